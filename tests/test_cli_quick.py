"""The fast path into ``nssr upscale`` (``nssr_cli.cli.quick``): it must read every command line
it accepts exactly as the Typer command does, step aside for everything else, and start lean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from helpers_images import image_file
from PIL import Image
from typer.testing import CliRunner

from nssr_cli.cli import quick
from nssr_cli.cli.upscale_run import DEFAULT, UpscaleOptions


def upscale_params() -> dict[str, Any]:
    from nssr_cli.cli import app

    command = typer.main.get_command(app).commands["upscale"]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params if p.name != "inputs"}


def typer_reads(monkeypatch: pytest.MonkeyPatch, line: list[str]) -> UpscaleOptions | None:
    """What the Typer command hands to ``upscale_command`` for ``nssr upscale LINE`` (None: it
    refuses the line)."""
    from nssr_cli.cli import app
    from nssr_cli.cli import upscale as command

    seen: list[UpscaleOptions] = []
    monkeypatch.setattr(command, "upscale_command", seen.append)
    result = CliRunner().invoke(app, ["upscale", *line])
    return seen[0] if result.exit_code == 0 and seen else None


def test_the_table_names_every_typer_option_with_its_flags_and_default() -> None:
    params = upscale_params()
    assert set(quick.OPTIONS) == set(params)
    for name, (flags, convert) in quick.OPTIONS.items():
        p = params[name]
        assert set(flags) == set(p.opts) and not p.secondary_opts, name
        assert (convert is None) == bool(p.is_flag), name
        default = getattr(p.default, "value", p.default)  # Typer may keep an Enum member
        assert default == getattr(DEFAULT, name), name


# Values tried on every option: bounds of the numeric ones, every choice, junk.
PROBES = [
    *("0", "1", "2", "2.5", "7", "15", "16", "32", "33", "100", "101", "1_000", "inf", "nan"),
    *("auto", "cpu", "cuda", "CPU", "none", "light", "medium", "heavy", "Heavy", "abc", "x.png"),
    *("\uff12", "\u0662\u0665", " 2", "2 ", "+2", "1e1", "0x10"),  # fullwidth, Arabic-Indic digits
]


@pytest.mark.parametrize("name", sorted(n for n, (_, c) in quick.OPTIONS.items() if c))
def test_every_value_reads_as_typer_reads_it_or_is_left_to_typer(name, monkeypatch) -> None:
    """Differential: for each option and probe, the fast parser takes exactly the values the
    Typer command takes (types, bounds, choices), with the same result."""
    flag = quick.OPTIONS[name][0][-1]
    for raw in PROBES:
        line = ["a.png", flag, raw]
        fast = quick.parse(["upscale", *line])
        if (not raw.isascii() or raw == "nan") and fast is None:  # other digits, and NaN where
            continue  # a bound applies: Typer's reading varies between versions, so left to it
        assert repr(fast) == repr(typer_reads(monkeypatch, line)), line  # repr: nan == nan


LINES = [
    ["a.png"],
    ["a.png", "-s", "3", "-o", "out.jpg", "--quality", "80", "-q"],
    ["a.png", "b.png", "--scale=2.5", "--output=big/", "-f", "webp", "-r", "--overwrite"],
    ["--kernel", "x2-medium", "a.png", "--device", "cpu", "--tile", "64", "-j", "1", "-v"],
    ["-", "-o", "-", "--blur", "heavy", "--json", "--skip-existing", "--suffix", "_big"],
    ["--max-pixels", "1_000", "a.png", "--", "-odd-name.png", "--json"],
    ["a.png", "-s", "2", "-s", "4", "--ray", "local", "--gpus-per-worker", "0.5"],
]


@pytest.mark.parametrize("line", LINES, ids=lambda line: " ".join(line))
def test_accepted_lines_parse_exactly_as_typer_parses_them(line, monkeypatch) -> None:
    typer_read = typer_reads(monkeypatch, line)
    assert typer_read is not None
    assert quick.parse(["upscale", *line]) == typer_read


@pytest.mark.parametrize(
    "line",
    [
        [],
        ["train"],
        ["--debug", "upscale", "a.png"],
        ["upscale"],
        ["upscale", "--help"],
        ["upscale", "a.png", "-h"],
        ["upscale", "a.png", "-qv"],  # bundled short flags
        ["upscale", "a.png", "-s2"],
        ["upscale", "a.png", "--scal", "2"],  # Click takes no abbreviations; Typer explains
        ["upscale", "a.png", "--quality", "0"],
        ["upscale", "a.png", "--jobs", "33"],
        ["upscale", "a.png", "--tile", "two"],
        ["upscale", "a.png", "--blur", "Heavy"],
        ["upscale", "a.png", "--overwrite=yes"],
        ["upscale", "a.png", "-o"],
        ["upscale", "a.png", "-o", "--json"],
        ["upscale", "a.png", "--gpus-per-worker", "-1"],
    ],
    ids=lambda line: " ".join(line) or "(nothing)",
)
def test_anything_else_is_left_to_typer(line: list[str]) -> None:
    assert quick.parse(line) is None


def test_refused_values_get_typers_message_and_exit_code(tmp_path, capsys, monkeypatch) -> None:
    from test_cli_upscale import nssr

    src = image_file(tmp_path / "a.png")
    code, _, err = nssr(["upscale", str(src), "--quality", "0"], capsys, monkeypatch)
    assert code == 2 and "--quality" in err and not (tmp_path / "a_x2.png").exists()


def run_and_list_modules(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Any]:
    code = (
        "import sys\n"
        "from nssr_cli.cli import main\n"
        f"sys.argv = ['nssr', 'upscale', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    return proc, set(proc.stdout.split())


def test_a_quiet_upscale_loads_no_typer_rich_torch_or_unused_image_plugins(tmp_path) -> None:
    src = image_file(tmp_path / "in.jpg")
    out = tmp_path / "out.jpg"
    # --device cpu: with `auto` on a machine with a GPU, PyTorch is rightly imported
    proc, modules = run_and_list_modules(
        tmp_path, str(src), "-o", str(out), "-q", "--device", "cpu"
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (32, 24)
    heavy = {m.split(".")[0] for m in modules} & {"typer", "rich", "pydantic", "click", "torch"}
    assert not heavy
    assert "PIL.PdfImagePlugin" not in modules  # Image.init() would import every plugin
    assert "PIL.JpegImagePlugin" in modules


def test_messages_still_reach_stderr_without_typer(tmp_path) -> None:
    src = image_file(tmp_path / "in.png")
    proc, _ = run_and_list_modules(tmp_path, str(src), "-v")
    assert proc.returncode == 0, proc.stderr
    assert "done:" in proc.stderr and "in_x2.png" in proc.stderr


def test_random_command_lines_read_the_same_both_ways(monkeypatch) -> None:
    """Fixed-seed random lines mixing every option, value probes, paths and ``--``: wherever
    the fast parser accepts a line, Typer reads the very same options from it."""
    import random

    rng = random.Random(0)
    flags = [f for flags, _ in quick.OPTIONS.values() for f in flags]
    words = [*flags, *PROBES, "a.png", "-", "--", "-o", "x.jpg", "-qv", "--help", "--json=1"]
    accepted = 0
    for _ in range(300):
        line = ["a.png", *rng.choices(words, k=rng.randint(0, 6))]
        fast = quick.parse(["upscale", *line])
        if fast is not None:
            accepted += 1
            assert fast == typer_reads(monkeypatch, line), line
    assert accepted > 50  # the fast path is really taken, not just stepping aside
