"""The package's layers: imports run one way (command line → services → core → errors), with no
cycle and no upward import, not even inside a function; modules stay small enough to read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nssr_cli

ROOT = Path(nssr_cli.__file__).parent

# Higher ranks may import lower ones; a module may also import from its own subpackage.
RANKS = {
    "errors": 0,
    "system": 0,
    "engine": 1,
    "synth": 1,
    "files": 1,
    "dil": 2,
    "kernels": 3,
    "api": 4,
    "batch": 5,
    "quality": 5,
    "cli": 6,
}


def part(module: str) -> str:
    """``nssr_cli.kernels.bank`` → ``kernels``; the package root (its version) is ``""``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else ""


def nssr_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``nssr_cli`` module ``path`` imports, anywhere in the file, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "nssr_cli" or node.module.startswith("nssr_cli."):
                # from a.b import c: c may be a module of its own
                found += [(node.lineno, _submodule(node.module, a.name)) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("nssr_cli.")]
    return found


def _submodule(package: str, name: str) -> str:
    """``package.name`` when that is a module or subpackage, else ``package``."""
    folder = ROOT.parent.joinpath(*package.split("."))
    if (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists():
        return f"{package}.{name}"
    return package


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return out


def test_every_part_of_the_package_has_a_rank() -> None:
    parts = {part(m) for m, _ in modules()} - {"", "__main__"}
    assert parts <= set(RANKS), f"give these a rank in RANKS: {parts - set(RANKS)}"


def upward_imports(module: str, path: Path) -> list[str]:
    """``line imports target`` for each import of ``module`` (in ``path``) against the layers."""
    mine = part(module)
    if mine in ("", "__main__"):  # the facade: version, lazy upscale_array, the entry point
        return []
    upward = []
    for line, target in nssr_imports(path):
        theirs = part(target)
        if theirs in ("", mine):  # the package root (its version) or one's own subpackage
            continue
        if RANKS.get(theirs, -1) >= RANKS[mine]:
            upward.append(f"{line} imports {target}")
    return upward


def test_imports_only_go_down_the_layers() -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{bad}"
        for module, path in modules()
        for bad in upward_imports(module, path)
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_import_cycles_inside_a_subpackage() -> None:
    graph = {m: {t for _, t in nssr_imports(p)} for m, p in modules()}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        for nxt in graph.get(node, ()):
            if nxt in trail:
                raise AssertionError("import cycle: " + " → ".join((*trail, nxt)))
            visit(nxt, (*trail, nxt))

    for m in graph:
        if part(m) not in ("", "__main__"):
            visit(m, (m,))


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an engine module importing the kernel bank is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from nssr_cli.kernels.bank import select_kernel\n")
    assert upward_imports("nssr_cli.engine.bad", bad) == ["2 imports nssr_cli.kernels.bank"]
    assert upward_imports("nssr_cli.cli.bad", bad) == []  # the command line may use the bank


def test_modules_stay_readable() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for _, p in modules()
        if (n := len(p.read_text().splitlines())) > 330
    }
    assert not long, f"split these modules by concept: {long}"


def test_docstrings_cite_nothing_a_reader_cannot_open() -> None:
    """The team's design notes and issue tracker do not ship: the code says things itself or
    points to the README or a module."""
    for name, path in modules():
        text = path.read_text()
        assert "DESIGN §" not in text and not re.search(r"\bissues? #?\d", text), name
