"""The README and docs/ against the real CLI: every command and option has help, every
`nas ...` line in a fenced shell block parses, the README stays a short guide that links
to every page in docs/, and every relative link and anchor resolves.

No database and no subprocess: the command lines are parsed by click itself
(`make_context`, which parses without invoking), so an unknown subcommand or option, a
missing argument, a bad value or an extra argument fails the test.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from nas.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 220
SHELL_LANGS = {"bash", "sh", "shell", "console"}  # unlabelled blocks are file trees

# Lines the parser cannot take as written (shell placeholders). Keep this tiny: each entry
# is an exact line (stripped) from a fenced block.
SKIP = frozenset()

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def _commands(group: click.Group = cli, path: tuple[str, ...] = ("nas",)):
    """(path, command) for the group and every command under it, recursively."""
    yield path, group
    ctx = click.Context(group, info_name=path[-1])
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_and_option_has_help():
    missing = []
    for path, command in _commands():
        if not (command.help or "").strip():
            missing.append(f"{' '.join(path)}: no help text")
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {'/'.join(param.opts)}: no help")
    assert not missing, "\n".join(missing)
    assert len(list(_commands())) > 20  # the walk reached the subcommands


def test_every_command_has_an_example_that_parses():
    """Each visible command's help ends with `Example: nas ...`, and that line parses."""
    for path, command in _commands():
        if isinstance(command, click.Group) or command.hidden:
            continue
        found = re.search(r"^\s*Example: (nas .*)$", command.help or "", re.M)
        assert found, f"{' '.join(path)}: no 'Example: nas ...' line in its help"
        example = re.split(r"\s{2,}", found.group(1).strip())[0]  # a trailing note after 2 spaces
        args = shlex.split(example)
        assert tuple(args[:len(path)]) == path, f"{' '.join(path)}: its example runs {example!r}"
        parse(args[1:])


def parse(args: list[str]) -> None:
    """Parse `nas ARGS` as click would, without invoking anything. Raises click.UsageError
    (or a subclass) for an unknown subcommand or option, a missing or extra argument, or a
    bad value."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="nas")
    args = list(args)
    while isinstance(command, click.Group):
        if not args:
            return  # `nas` or `nas GROUP` alone: prints the help (completion uses bare `nas`)
        if args[0].startswith("-"):
            raise click.UsageError(f"a group option in a documented line: {args[0]}", ctx)
        name = args.pop(0)
        sub = command.get_command(ctx, name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r}", ctx)
        command = sub
        ctx = click.Context(command, info_name=name, parent=ctx) if isinstance(
            command, click.Group) else ctx
    command.make_context(name, args, parent=ctx)


def _tokens(line: str) -> list[str]:
    """Shell words of one command up to the first pipe, redirection or separator."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if word and all(c in "();<>|&" for c in word):
            break
        words.append(word)
    return words


def _nas_args(command: str) -> list[str] | None:
    """The arguments after `nas` in one shell command, or None if it does not run nas:
    `nas ...`, `VAR=value nas ...`, or `... -- nas ...` (kubectl exec)."""
    words = _tokens(command)
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    if words and words[0] == "nas":
        return words[1:]
    if "--" in words:
        rest = words[words.index("--") + 1:]
        if rest and rest[0] == "nas":
            return rest[1:]
    return None


def documented_nas_lines() -> list[tuple[str, str, list[str]]]:
    """(page, line, args) for every `nas` command in a fenced shell block of the README and
    docs/*.md, command substitutions `$(nas ...)` included."""
    found = []
    for page in PAGES:
        for lang, body in _FENCE.findall(page.read_text()):
            if lang not in SHELL_LANGS:
                continue
            for line in body.replace("\\\n", " ").splitlines():
                line = line.strip()
                if not line or line.startswith("#") or line in SKIP:
                    continue
                for command in [line, *_SUBSTITUTION.findall(line)]:
                    args = _nas_args(command)
                    if args is not None:
                        found.append((page.relative_to(ROOT).as_posix(), line, args))
    return found


def test_every_documented_nas_line_parses():
    lines = documented_nas_lines()
    assert len(lines) > 50  # the blocks were found: an empty match would pass vacuously
    bad = []
    for page, line, args in lines:
        try:
            parse(args)
        except click.UsageError as exc:
            bad.append(f"{page}: {line}\n    {exc.format_message()}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("line", [
    "nas search demo --no-such-flag",                  # unknown option
    "nas studdy list",                                 # unknown subcommand
    "nas study budget demo",                           # missing argument
    "nas study budget demo forty",                     # bad value
    "nas best demo extra",                             # extra argument
    "nas search demo -m hybrid",                       # not a choice
    "nas replay demo",                                 # required option missing
])
def test_the_parser_rejects_what_the_cli_rejects(line):
    args = _nas_args(line)
    assert args is not None
    with pytest.raises(click.UsageError):
        parse(args)


def test_the_line_finder_reads_prefixes_pipes_and_substitutions():
    assert _nas_args("NAS_DATABASE_URL=x NAS_THREADS=2 nas worker --serve") == ["worker", "--serve"]
    assert _nas_args("kubectl -n nas exec deploy/nas-worker -- nas status") == ["status"]
    assert _nas_args("_NAS_COMPLETE=fish_source nas | source") == []
    assert _nas_args("nas db url > url.txt  # the url") == ["db", "url"]
    assert _nas_args("make workers N=8  # = nas workers up 8") is None
    assert _SUBSTITUTION.findall('psql "$(nas db url)" -c "SELECT 1"') == ["nas db url"]


def test_readme_is_short_and_links_to_every_doc():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    assert DOCS, "docs/ holds the reference pages"
    targets = set(_links(README))
    missing = [doc.relative_to(ROOT).as_posix() for doc in DOCS
               if doc.relative_to(ROOT).as_posix() not in {t.split("#")[0] for t in targets}]
    assert not missing, f"README.md does not link to {missing}"


def _links(page: Path) -> list[str]:
    """Relative link targets of a page, outside code blocks and code spans."""
    text = _FENCE.sub("", page.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text)
            if not re.match(r"[a-z]+:", t)]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = _FENCE.sub("", page.read_text())
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,6} (.*)$", text, re.M)}


def test_every_relative_link_and_anchor_resolves():
    bad = []
    for page in PAGES:
        for target in _links(page):
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                bad.append(f"{page.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{page.name}: {target} (no such heading)")
    assert not bad, "\n".join(bad)
