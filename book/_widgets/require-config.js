// Loaded after require.js and before @jupyter-widgets/html-manager's embed-amd.js on every page
// with widgets (nb_ipywidgets_js in _config.yml). It points require.js at the files this site
// serves beside this script (copied there by the Makefile), so the widgets render with no kernel
// and no CDN:
// * "anywidget", the AMD module the embedded widget state names, is anywidget's dist/index.js;
// * "@jupyter-widgets" and "@jupyter-widgets/html-manager/dist" are this folder: each bundle in
//   embed-amd.js derives the address of the fonts its CSS uses from its own module path
//   ("@jupyter-widgets/base", ".../html-manager/dist/libembed-amd", ...), and all of those
//   modules are already defined by embed-amd.js, so these paths only make the fonts come
//   from here (the Makefile copies them beside this script).
// Both are absolute URLs built from this script's own address, so pages in any folder
// (chapters/, exercises/) resolve them alike.
(function () {
  var folder = document.currentScript.src.replace(/[?#].*$/, "").replace(/[^/]*$/, "");
  window.require.config({
    paths: {
      anywidget: folder + "anywidget",
      "@jupyter-widgets": folder.replace(/\/$/, ""),
      "@jupyter-widgets/html-manager/dist": folder.replace(/\/$/, ""),
    },
  });
})();
