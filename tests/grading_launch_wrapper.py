"""Used by the grading tests as a kernel launcher: ``python grading_launch_wrapper.py RECORD -- CMD...``
appends CMD to the file RECORD, then becomes CMD (as a sandbox wrapper such as bwrap would)."""

import os
import sys

record, separator, *command = sys.argv[1:]
assert separator == "--" and command
with open(record, "a", encoding="utf-8") as handle:
    handle.write(" ".join(command) + "\n")
os.execvp(command[0], command)
