"""The documentation holds together: a short README whose command table names every
command, and relative links (and their #anchors) that resolve, in the README,
CONTRIBUTING.md and docs/."""

import ast
import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_MAX_LINES = 200
# Subcommands of `convert` that have rows of their own in the command table.
SUBCOMMANDS = ("convert benchmark", "convert compare", "convert check-arm")

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")


def documents():
    return [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text):
    """The lines of a Markdown text outside fenced code blocks."""
    inside = False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield line


def slug(heading):
    """GitHub's anchor for a heading's text: links and code marks reduced to
    their text, lowercased, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every heading anchor of a Markdown file, repeated headings numbered as
    GitHub numbers them (name, name-1, name-2, ...)."""
    found, seen = set(), {}
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        name = slug(match.group(2))
        count = seen.get(name, 0)
        seen[name] = count + 1
        found.add(name if count == 0 else f"{name}-{count}")
    return found


def relative_links(path):
    """(line number, target) of every relative link and image in a Markdown file."""
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if inside:
            continue
        for target in LINK.findall(INLINE_CODE.sub("code", line)):  # code is not a link
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # http:, https:, mailto:, ...
            yield number, target


def broken_links(path, root=ROOT):
    """What is wrong with each relative link of ``path``: a missing file, or an
    #anchor with no heading of that name in the Markdown file it points into."""
    problems = []
    for number, target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}: {target}"
        if not destination.exists():
            problems.append(f"{where}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            problems.append(f"{where}: no heading #{anchor} in {destination.name}")
    return problems


def section(text, title):
    """The lines of the '## title' section of a Markdown text."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() == title
            continue
        if inside:
            lines.append(line)
    return lines


def command_table():
    """(the first cell's code spans, the whole row) of each row of the README's
    command table."""
    lines = section(README.read_text(encoding="utf-8"), "Commands")
    rows = [line for line in lines if line.startswith("|")][2:]  # past the header and rule
    return [
        ([code.strip() for _, code in INLINE_CODE.findall(row.split("|")[1])], row) for row in rows
    ]


def console_scripts():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    value = config["options.entry_points"]["console_scripts"]
    return [line.split("=")[0].strip() for line in value.splitlines() if line.strip()]


def run_jobs():
    """The keys of run.py's JOBS, read without running it."""
    tree = ast.parse((ROOT / "run.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "JOBS" for target in node.targets
        ):
            return [ast.literal_eval(key) for key in node.value.keys]
    raise AssertionError("run.py has no JOBS")


def in_table(command, table):
    """Whether a row's first cell names ``command`` (alone or with its arguments)."""
    return any(
        code == command or code.startswith(command + " ") for codes, _ in table for code in codes
    )


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move the detail to docs/"
    )


@pytest.mark.parametrize("path", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path):
    assert not broken_links(path)


def test_every_command_is_in_the_readme_table():
    table = command_table()
    commands = [
        *console_scripts(),
        *(f"python3 run.py {job}" for job in run_jobs()),
        *SUBCOMMANDS,
    ]
    assert len(commands) > len(SUBCOMMANDS) + 4, commands  # both sources were read
    missing = [command for command in commands if not in_table(command, table)]
    assert not missing, f"not in the README's command table: {missing}"


def test_every_command_row_links_to_its_docs():
    table = command_table()
    assert table
    unlinked = [row for _, row in table if not LINK.search(row)]
    assert not unlinked


def test_slugs_follow_github():
    assert slug("Which file to ship: `convert compare`") == "which-file-to-ship-convert-compare"
    assert slug("Forward pass and training step against timm") == (
        "forward-pass-and-training-step-against-timm"
    )
    assert slug("Lint and pre-commit") == "lint-and-pre-commit"
    assert slug("The report_fields (v2)!") == "the-report_fields-v2"


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "guide.md").write_text("# Guide\n\n## Every flag\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](guide.md#every-flag) [web](https://example.com/x.md) `[code](nowhere.md)`\n"
        "[gone](missing.md) [bad anchor](guide.md#no-such-flag) [self](#page)\n\n# Page\n"
        "```\n[in a fence](fenced.md)\n```\n",
        encoding="utf-8",
    )
    problems = broken_links(page, tmp_path)
    assert len(problems) == 2, problems
    assert "missing.md: no such file" in problems[0]
    assert "no heading #no-such-flag" in problems[1]
