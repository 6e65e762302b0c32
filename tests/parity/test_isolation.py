"""Recording in subprocesses side by side (parity.isolation): the same traces as in process,
the reference's feeds, a reference that dies, progress events, the rule of the default."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity import engine, isolation
from parity.progress import EventStream, replay
from parity.record import absent_marker, record
from parity.trace import Trace, slim
from tests.parity.helpers import CAND, ORACLE, REF, fake_scenario

CHECKS = ["params", "ops", "forward", "gradients", "training", "bundles", "inference", "regression"]


class Log:
    """A Reporter that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, label: str) -> None:
        self.calls.append(("start", label))

    def finish(self, label: str, status: str, seconds: float) -> None:
        self.calls.append(("finish", label, status, seconds))

    def note(self, message: str) -> None:
        self.calls.append(("note", message))


def _tensors(path: Path) -> dict[tuple[str, str], np.ndarray]:
    with Trace(path) as t:
        return {key: t.get(*key) for key in t.walk()}


@pytest.mark.slow
def test_side_by_side_records_what_in_process_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = fake_scenario(checks=CHECKS)
    log = Log()
    monkeypatch.setattr(isolation, "cpu_cores", lambda: 2)
    # baselines to hold both runs against: the regression findings come early side by side
    first = engine.run_scenario(sc, [REF, CAND], out_root=None, oracle=ORACLE)
    base = tmp_path / "baselines"
    for spec, name in ((REF, "fake-reference"), (CAND, "fake-candidate")):
        slim(first.traces[spec], engine.baseline_path(sc.name, name, base), max_elements=64)
    inside = engine.run_scenario(
        sc, [REF, CAND], out_root=tmp_path / "a", oracle=ORACLE, baseline_dir=base
    )
    apart = engine.run_scenario(
        sc, [REF, CAND], out_root=tmp_path / "b", oracle=ORACLE, baseline_dir=base,
        isolate=True, progress=log,
    )  # fmt: skip
    assert inside.verdict == apart.verdict == "pass"
    assert sum(f.family == "regression" and f.verdict == "pass" for f in apart.findings) > 10
    for spec in (REF, CAND):
        a, b = _tensors(inside.traces[spec]), _tensors(apart.traces[spec])
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))
    with Trace(apart.traces[CAND]) as cand:
        assert cand.json("params", "single_step")["source"] == "reference:fake-reference"
        assert cand.sections["wait:reference"]["status"] == "ok"
    rows = lambda r: sorted((f.check, f.tensor, f.metric, f.verdict) for f in r.findings)  # noqa: E731
    assert rows(inside) == rows(apart)
    # each subprocess's steps reached the parent's display, the feeds did not stay behind
    assert any("subprocesses side by side" in c[1] for c in log.calls if c[0] == "note")
    finished = {c[1] for c in log.calls if c[0] == "finish"}
    assert {"fake-reference: forward", "fake-candidate: forward"} <= finished
    assert not list(apart.report_dir.glob("feeds-*"))


@pytest.mark.slow
def test_a_dying_reference_does_not_leave_the_candidate_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolation, "cpu_cores", lambda: 2)
    sc = fake_scenario(checks=["params", "forward"])
    result = engine.run_scenario(
        sc,
        ["tests.parity.fakes:dying", CAND],
        out_root=tmp_path / "r",
        oracle=ORACLE,
        isolate=True,
        isolate_timeout=120,
    )
    error = next(f for f in result.findings if f.check == "record")
    assert "exited with code 3" in error.evidence
    with Trace(result.report_dir / "traces" / "1-tests.parity.fakes_candidate.h5") as cand:
        assert cand.sections["forward"]["status"] == "ok"
        assert cand.json("params", "single_step")["source"] == "self"


def test_reference_publishes_its_feeds_after_the_forward_section(tmp_path: Path) -> None:
    from tests.parity import fake_physics

    sc = fake_scenario(checks=["forward"])
    feeds = tmp_path / "feeds.h5"
    full = record(REF, sc, tmp_path / "t.h5", oracle=fake_physics, feeds_out=feeds)
    with Trace(full) as t, Trace(feeds) as f:
        assert f.backend == t.backend == "fake-reference"
        names = t.names("forward/activations")
        assert names and f.names("forward/activations") == names
        for name in names:
            np.testing.assert_array_equal(
                f.get("forward/activations", name), t.get("forward/activations", name)
            )
        for key in ("X", "positions"):
            np.testing.assert_array_equal(f.get("batch", key), t.get("batch", key))
    # a candidate fed from the feeds alone records the single steps of one fed the whole trace
    a = record(CAND, sc, tmp_path / "a.h5", oracle=fake_physics, reference=full)
    b = record(
        CAND, sc, tmp_path / "b.h5", oracle=fake_physics, reference=feeds, await_reference=True
    )
    ta, tb = _tensors(a), _tensors(b)
    steps = [k for k in ta if k[0] == "forward/single_step"]
    assert steps
    for key in steps:
        np.testing.assert_array_equal(ta[key], tb[key])


def test_a_failed_forward_still_publishes_empty_feeds(tmp_path: Path) -> None:
    from tests.parity import fake_physics

    sc = fake_scenario(checks=["forward"])
    feeds = tmp_path / "feeds.h5"
    record("tests.parity.fakes:no_such_backend", sc, tmp_path / "t.h5", feeds_out=feeds,
           oracle=fake_physics)  # fmt: skip
    with Trace(feeds) as f:
        assert list(f.walk()) == []


def test_the_candidate_waits_for_the_absent_marker(tmp_path: Path) -> None:
    from tests.parity import fake_physics

    sc = fake_scenario(checks=["forward"])
    feeds = tmp_path / "feeds.h5"
    absent_marker(feeds).touch()
    out = record(
        CAND, sc, tmp_path / "c.h5", oracle=fake_physics, reference=feeds, await_reference=True
    )
    with Trace(out) as t:
        assert t.json("params", "single_step")["source"] == "self"


def test_record_command_of_each_side(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.h5"
    ref = isolation.record_command(REF, tmp_path / "s.json", tmp_path / "r.h5", device="cpu",
                                   feeds_out=feeds, events=True)  # fmt: skip
    cand = isolation.record_command(CAND, tmp_path / "s.json", tmp_path / "c.h5", device="cpu",
                                    reference=feeds, await_reference=True, inject=["x"])  # fmt: skip
    assert ref[:4] == [sys.executable, "-m", "parity", "record"]
    assert ref[ref.index("--feeds-out") + 1] == str(feeds) and "--events" in ref
    assert "--reference" not in ref and "--await-reference" not in ref
    # the feeds do not exist yet: the candidate is still told where they will be
    assert cand[cand.index("--reference") + 1] == str(feeds) and "--await-reference" in cand
    assert cand[cand.index("--inject") + 1] == "x" and "--events" not in cand


def test_events_reach_the_parent_reporter() -> None:
    stream = io.StringIO()
    events = EventStream(stream)
    events.start("tensorflow: forward")
    events.finish("tensorflow: forward", "ok", 0.25)
    events.note("hello")
    log = Log()
    lines = [*stream.getvalue().splitlines(), "section forward failed: boom", "[1, 2]"]
    handled = [replay(line, log) for line in lines]
    assert handled == [True, True, True, False, False]
    assert log.calls == [
        ("start", "tensorflow: forward"),
        ("finish", "tensorflow: forward", "ok", 0.25),
        ("note", "hello"),
    ]


@given(st.text())
def test_replay_never_raises_on_any_line(line: str) -> None:
    log = Log()
    if not replay(line, log):
        assert log.calls == []


@pytest.mark.parametrize(
    ("backends", "device", "cores", "imported", "expected"),
    [
        (["tensorflow", "pytorch"], "cpu", 2, False, True),
        (["tensorflow", "pytorch"], "cpu", 1, False, False),  # nothing runs side by side
        (["tensorflow", "pytorch"], "gpu", 16, False, False),  # one GPU for two processes
        (["tensorflow"], "cpu", 2, False, False),
        ([REF, CAND], "cpu", 2, False, False),  # no framework imports to overlap
        (["tensorflow", "pytorch"], "cpu", 2, True, False),  # imports already paid for
    ],
)
def test_when_isolation_is_the_faster_default(
    monkeypatch: pytest.MonkeyPatch,
    backends: list[str],
    device: str,
    cores: int,
    imported: bool,
    expected: bool,
) -> None:
    monkeypatch.setattr(isolation, "cpu_cores", lambda: cores)
    monkeypatch.setattr(isolation, "frameworks_imported", lambda: imported)
    assert isolation.faster_isolated(backends, device) is expected


@pytest.mark.parametrize(
    ("argv", "faster", "expected"),
    [
        ([], True, True),  # the command line's default: where it is faster
        ([], False, False),
        (["--in-process"], True, False),
        (["--isolate"], False, True),
        (["--timeout", "60"], False, True),  # a timeout needs subprocesses
        (["cross-device"], True, False),  # records on the GPU, then again on the CPU
    ],
)
def test_where_parity_run_records(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], faster: bool, expected: bool
) -> None:
    from parity.cli import main

    chosen: list[bool] = []

    def fake_run(scenario, backends, **kwargs):
        chosen.append(kwargs["isolate"])
        raise KeyboardInterrupt  # stop before any work

    monkeypatch.setattr(isolation, "faster_isolated", lambda backends, device: faster)
    monkeypatch.setattr(engine, "run_scenario", fake_run)
    scenario = [] if "cross-device" in argv else ["smoke"]
    assert main(["run", *scenario, *argv, "--out", str(tmp_path), "-q"]) == 130
    assert chosen == [expected]
