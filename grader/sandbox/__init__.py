"""The sandbox student code runs in while it is graded, and the fork server that starts it warm.

Used by both places where a submission's code runs: the notebook's kernel and the verification runner.

* :mod:`.bubblewrap`: the ``bwrap`` command line of a sandbox (:class:`~.bubblewrap.Sandbox`: a
  private file system, namespaces, an unprivileged user) and its rlimits
  (:class:`~.bubblewrap.ResourceLimits`);
* :mod:`.availability`: whether a sandbox works here, and refusing to grade without one;
* :mod:`.library`: the filtered ``grader`` package a sandbox sees (with the stubs of :mod:`.stubs`);
* :mod:`.confine` and :mod:`.limits`: plain scripts run in front of a sandboxed command (rlimits,
  ``no_new_privs``, the drop to the sandbox's user), and a forked child's own sandbox
  (:func:`.confine.isolate`);
* :mod:`.forkserver`: one warm process that forks a child per request and runs a given child
  function in it (the kernel template, :mod:`grader.grading.zygote`, and the verification runner
  template, :mod:`grader.integrity.runner`, are its two users), and the client that drives it;
* :mod:`.kernel_launcher`: the kernels' launcher that puts them (or their template) in sandboxes.

Nothing here is imported by this ``__init__``: the modules are copied one by one into the
sandbox's filtered package, and some of them run as plain scripts.
"""
