"""The README tells the truth about the command line: every command and option it shows exists."""

import re
from pathlib import Path

from typer.testing import CliRunner

from credit_grading.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def _snippets() -> list[str]:
    """Every command line of the README: inline code spans and lines of code blocks."""
    out = [m.group(1) for m in re.finditer(r"`(credit-grading [^`]+)`", README)]
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        out += [ln.strip() for ln in block.splitlines() if "credit-grading " in ln]
    return out


def _command(snippet: str) -> tuple[list[str], list[str]]:
    words = snippet[snippet.index("credit-grading ") + len("credit-grading ") :].split()
    cmd = [words[0]]
    if (words[0] in ("models", "audit", "objection", "export", "exchange") and len(words) > 1) or (
        words[0] == "catalogue" and len(words) > 1 and words[1] == "infer"
    ):
        cmd.append(words[1])
    options = sorted(set(re.findall(r"(--[a-z][a-z-]*)", snippet)))
    return cmd, options


def test_every_command_and_option_in_the_readme_exists():
    snippets = _snippets()
    assert len(snippets) > 20
    checked = set()
    for snippet in snippets:
        for part in re.split(r"\s/\s", snippet):  # "credit-grading models list / credit-grading models promote"
            if "credit-grading " not in part:
                continue
            cmd, options = _command(part)
            if cmd[0].startswith("-"):
                options = [*options, cmd[0]]
                cmd = []
            res = runner.invoke(app, [*cmd, "--help"], terminal_width=200)
            assert res.exit_code == 0, f"`credit-grading {' '.join(cmd)}` does not exist: {res.output}"
            for opt in options:
                if opt == "--help":
                    continue
                assert opt in res.output, f"`credit-grading {' '.join(cmd)}` has no option {opt}"
            checked.add(" ".join(cmd))
    assert {"demo", "train", "rescore", "explain", "report", "monitor", "inspection-plan", "publish"} <= checked


def test_the_readme_starts_with_exactly_two_setup_commands():
    block = README.split("<!-- ci:commands -->")[1].split("<!-- /ci:commands -->")[0]
    lines = [ln for ln in block.splitlines() if ln.startswith("python3 ")]
    assert len(lines) == 2
    assert lines[0].endswith("credit-grading demo") and "pytest" in lines[1]
