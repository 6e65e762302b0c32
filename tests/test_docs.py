"""Every citation of the documentation resolves: a cited ``docs/*.md`` file exists, and a cited
section of the reference (``physics.md 7.1``, ``docs/data.md sections 3-7``,
``config.md (d)``) is a heading of that file. Citations of the former out-of-tree
specification folder are refused, and so are relative links of the docs that point nowhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = ("physics", "data", "model", "config", "persistence")
SCANNED_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".ini"}
SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".nox",
    ".hypothesis",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "build",
    "dist",
    "node_modules",
    "reports",
    "site",
}

_SECTION = r"(?:\([a-z]\)|\d+(?:\.\d+)*(?![\d.]*\w))"
_JOIN = r"(?:\s*[-–,]\s*|\s+and\s+)"
CITATION = re.compile(
    r"(?<![\w/.-])(?P<prefix>docs/)?(?P<name>[A-Za-z][\w-]*)\.md"
    rf"(?:,?\s*(?:sections?\s+|§\s*)?(?P<sections>{_SECTION}(?:{_JOIN}{_SECTION})*))?"
)
"""A file name ``<name>.md`` (``docs/`` optional) and the sections cited after it."""

SECTION_TOKEN = re.compile(r"\((?P<letter>[a-z])\)|(?P<number>\d+(?:\.\d+)*)")
RANGE = re.compile(rf"(?P<start>{_SECTION})\s*[-–]\s*(?P<end>{_SECTION})")
HEADING = re.compile(r"^#{1,6}\s+(?:\((?P<letter>[a-z])\)|(?P<number>\d+(?:\.\d+)*)\.?)\s")
SPEC_FOLDER = re.compile(r"\bspec/[\w-]+\.md", re.IGNORECASE)
MARKDOWN_LINK = re.compile(r"\]\((?P<target>[^)#\s]+\.md)(?:#[^)]*)?\)")


@dataclass(frozen=True)
class Citation:
    """One cited file (a path relative to the repository) and the section ids cited in it."""

    where: str
    file: str
    sections: tuple[str, ...]


def section_ids(markdown: str) -> set[str]:
    """The section ids of a reference file: ``3``, ``7.1``, ``12.20`` or a letter ``d``,
    from headings such as ``## 3. Far-field diffraction`` or ``## (d) PyTorch-native ...``."""
    ids: set[str] = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else HEADING.match(line)
        if match:
            ids.add(match.group("letter") or match.group("number"))
    return ids


def cited_sections(text: str) -> tuple[str, ...]:
    """The section ids of a citation's tail (``sections 3-7``, ``(b) and (c)``, ``10, 12.5``):
    every id named, and both ends of every range."""
    ids = [m.group("letter") or m.group("number") for m in SECTION_TOKEN.finditer(text)]
    for match in RANGE.finditer(text):
        for end in (match.group("start"), match.group("end")):
            token = SECTION_TOKEN.fullmatch(end)
            assert token is not None
            ids.append(token.group("letter") or token.group("number"))
    return tuple(dict.fromkeys(ids))


def citations(text: str, where: str) -> list[Citation]:
    """The documentation citations in ``text``: every ``docs/<name>.md`` and every bare name of
    a reference file, with the sections cited after it."""
    found = []
    for match in CITATION.finditer(text):
        name = match.group("name")
        if match.group("prefix") is None and name not in REFERENCE:
            continue
        tail = match.group("sections") or ""
        sections = cited_sections(tail) if name in REFERENCE else ()
        found.append(Citation(where, f"docs/{name}.md", sections))
    return found


def scanned_files() -> list[Path]:
    """The repository's text files that may cite the docs."""
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        out += [Path(folder) / f for f in sorted(files) if Path(f).suffix in SCANNED_SUFFIXES]
    return out


def unresolved(cites: list[Citation], headings: dict[str, set[str]]) -> list[str]:
    """A line per citation whose file or section does not exist."""
    problems = []
    for cite in cites:
        if not (ROOT / cite.file).is_file():
            problems.append(f"{cite.where}: {cite.file} does not exist")
            continue
        missing = [s for s in cite.sections if s not in headings.get(cite.file, set())]
        if missing:
            problems.append(f"{cite.where}: {cite.file} has no section {', '.join(missing)}")
    return problems


@pytest.fixture(scope="module")
def headings() -> dict[str, set[str]]:
    return {
        f"docs/{name}.md": section_ids((DOCS / f"{name}.md").read_text(encoding="utf-8"))
        for name in REFERENCE
    }


@pytest.fixture(scope="module")
def repository_citations() -> list[Citation]:
    found = []
    for path in scanned_files():
        if path == Path(__file__).resolve():
            continue  # its examples of broken citations are meant to be broken
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), start=1):
            found += citations(line, f"{path.relative_to(ROOT)}:{lineno}")
    return found


def test_the_reference_files_exist_with_numbered_sections(headings: dict[str, set[str]]) -> None:
    for name, ids in headings.items():
        assert ids, f"{name} has no numbered or lettered section headings"
    assert {"a", "b", "c", "d", "e", "f", "g"} <= headings["docs/config.md"]
    assert {"1", "10", "10.5", "11"} <= headings["docs/data.md"]
    assert {str(n) for n in range(13)} <= headings["docs/physics.md"]
    assert {"12.1", "12.23"} <= headings["docs/physics.md"]


def test_every_citation_resolves(
    repository_citations: list[Citation], headings: dict[str, set[str]]
) -> None:
    # the repository cites its reference often (well over a hundred places); fewer would mean
    # the scan lost its way, not that the citations were fixed
    assert len(repository_citations) > 100
    assert not unresolved(repository_citations, headings), "\n".join(
        unresolved(repository_citations, headings)
    )


def test_no_citation_of_the_former_specification_folder() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{lineno}"
        for path in scanned_files()
        if path != Path(__file__).resolve()
        for lineno, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        )
        if SPEC_FOLDER.search(line)
    ]
    assert not hits, "cite docs/<topic>.md instead:\n" + "\n".join(hits)


def test_relative_links_of_the_docs_and_readme_point_to_files() -> None:
    broken = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for match in MARKDOWN_LINK.finditer(path.read_text(encoding="utf-8")):
            target = match.group("target")
            if "://" in target:
                continue
            if not (path.parent / target).resolve().is_file():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)


def test_a_citation_of_a_missing_section_or_file_is_reported(
    headings: dict[str, set[str]],
) -> None:
    bad = citations("see docs/physics.md 7.9 and model.md sections 3-14", "x")
    bad += citations("as config.md (h) says; docs/nowhere.md", "y")
    assert unresolved(bad, headings) == [
        "x: docs/physics.md has no section 7.9",
        "x: docs/model.md has no section 14",
        "y: docs/config.md has no section h",
        "y: docs/nowhere.md does not exist",
    ]


@pytest.mark.parametrize(
    ("text", "file", "sections"),
    [
        ("(docs/data.md sections 3, 4, 8, 9).", "docs/data.md", ("3", "4", "8", "9")),
        ("docs/config.md (b) and (c))", "docs/config.md", ("b", "c")),
        ("physics.md 2.1-2.3, 8.1:", "docs/physics.md", ("2.1", "2.3", "8.1")),
        ("physics.md 2.3–2.4", "docs/physics.md", ("2.3", "2.4")),
        ("docs/data.md 8.", "docs/data.md", ("8",)),
        ("persistence.md §3.6", "docs/persistence.md", ("3.6",)),
        ("docs/config.md (f) 1-48", "docs/config.md", ("f",)),
        ("docs/harness.md 2", "docs/harness.md", ()),
        ("the upstream bridge.md 3", None, None),
        ("parity/README.md", None, None),
    ],
)
def test_citation_forms(text: str, file: str | None, sections: tuple[str, ...] | None) -> None:
    found = citations(text, "t")
    if file is None:
        assert found == []
    else:
        assert found == [Citation("t", file, sections or ())]


@given(
    name=st.sampled_from(REFERENCE),
    major=st.integers(0, 30),
    minor=st.one_of(st.none(), st.integers(1, 30)),
    form=st.sampled_from(
        ["{f} {s}", "{f} section {s}", "{f}, section {s}", "{f} §{s}", "({f} {s})"]
    ),
    prefix=st.sampled_from(["", "docs/"]),
)
def test_any_numbered_citation_is_read_back(
    name: str, major: int, minor: int | None, form: str, prefix: str
) -> None:
    section = str(major) if minor is None else f"{major}.{minor}"
    text = "see " + form.format(f=f"{prefix}{name}.md", s=section) + " for the rule"
    assert citations(text, "t") == [Citation("t", f"docs/{name}.md", (section,))]
