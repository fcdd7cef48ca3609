"""``python -m grader COMMAND ...``: the course's command line.

Commands:
  grade    grade a class's submissions (see ``python -m grader grade --help``)
"""

import sys

COMMANDS = {"grade": "grade a class's submissions: grades.csv, feedback and report.html"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:8} {help}" for name, help in COMMANDS.items()]
        print("usage: python -m grader COMMAND [ARGS]\n\ncommands:\n" + "\n".join(lines), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if argv[0] == "grade":
        from grader.grading.cli import main as grade

        return grade(argv[1:], prog="python -m grader grade")
    return 2


if __name__ == "__main__":
    sys.exit(main())
