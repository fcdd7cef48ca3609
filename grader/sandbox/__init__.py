"""The sandbox student code runs in while it is graded, and the fork server that starts it warm.

* :mod:`.forkserver`: one warm process that forks a child per request and runs a given child
  function in it (the kernel template, :mod:`grader.grading.zygote`, and the verification runner
  template, :mod:`grader.integrity.runner`, are its two users), and the client that drives it.

Nothing here is imported by this ``__init__``: the modules are copied one by one into the
sandbox's filtered package, and some of them run as plain scripts.
"""
