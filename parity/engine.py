"""plan -> record -> compare -> findings table.

:func:`run_scenario` records every backend of a scenario (in process, or each in its own
subprocess with ``isolate=True``: :mod:`parity.isolation`), compares the candidate with the
reference, checks each trace against its stored baseline, applies the ledger and writes the
report directory, which appears only when complete. A backend that raises, or whose subprocess
dies, yields ``error`` findings; the run goes on and the report is still written.

Every backend is recorded on the run's device (``--device`` or the scenario's ``[run] device``).
A scenario with ``[run] cross_device = true`` records both backends on the GPU, records each
again on the CPU and compares each backend's two traces (``device.*`` findings,
:func:`device_findings`); without a visible GPU that half is ``skipped`` with the reason and the
backends are recorded and compared on the CPU.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import BACKEND_NAMES
from backends.core.vocabulary import BUNDLE_NAME
from parity import ledger as ledger_mod
from parity.checks import FAMILIES, Context, run_all
from parity.findings import Finding, error_finding, exit_code, overall_verdict, skipped_finding
from parity.isolation import record_isolated, record_side_by_side, side_by_side
from parity.progress import Reporter, Silent
from parity.publish import publish, work_directory
from parity.record import record
from parity.tolerances import Registry
from parity.trace import Trace, TraceError

BASELINE_DIR = Path(__file__).with_name("baselines")


@dataclass
class Plan:
    """What a run will do."""

    scenario: Any
    backends: list[str]
    isolate: bool = False
    inject: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    device: str = "cpu"

    def describe(self) -> str:
        """One line."""
        mode = "in process"
        if self.isolate:
            together = side_by_side(self.backends, self.device)
            mode = "subprocesses side by side" if together else "isolated subprocesses"
        inj = f", injected defects: {', '.join(self.inject)}" if self.inject else ""
        cross = " and cpu (cross-device)" if self.scenario.run.cross_device else ""
        return (
            f"scenario {self.scenario.name} ({self.scenario.hash}): "
            f"{' vs '.join(self.backends)} ({mode}, device {self.device}{cross}); "
            f"checks: {', '.join(self.families)}{inj}"
        )


@dataclass
class RunResult:
    """Everything a report needs."""

    scenario: Any
    backends: list[str]
    traces: dict[str, Path]
    findings: list[Finding]
    names: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    seconds: float = 0.0
    command: str = ""
    report_dir: Path | None = None
    inject: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``pass`` or ``fail``."""
        return overall_verdict(self.findings)

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail."""
        return exit_code(self.findings)

    def frame(self) -> Any:
        """The findings table (pandas DataFrame)."""
        from parity.findings import to_frame

        return to_frame(self.findings)

    def localisation(self) -> dict[str, Any] | None:
        """First divergent stages (cumulative, single-step) of the forward check."""
        for f in self.findings:
            if f.check == "forward.localisation":
                return {
                    "cumulative": f.details.get("cumulative"),
                    "single_step": f.details.get("single_step"),
                }
        return None


def plan(
    scenario: Any,
    backends: Sequence[str],
    isolate: bool = False,
    inject: Sequence[str] = (),
    device: str | None = None,
) -> Plan:
    """The plan of one scenario run (``device`` None: the scenario's ``[run] device``)."""
    families = list(scenario.checks)
    return Plan(
        scenario, list(backends), isolate, list(inject), families, device or scenario.run.device
    )


NO_GPU_REASON = "no GPU is visible to torch/TensorFlow"


def gpu_visible(spec: str) -> str:
    """Empty when backend ``spec`` sees a GPU, else why not (imports its framework)."""
    from parity.registry import get_backend

    try:
        backend = get_backend(spec)
        use_device = getattr(backend, "use_device", None)
        if not callable(use_device):
            return f"backend {spec} has no device placement"
        use_device("gpu")
    except ValueError as exc:
        return str(exc)
    return ""


def device_findings(gpu_trace: Path, cpu_trace: Path, tolerances: Registry) -> list[Finding]:
    """One backend's GPU trace against its CPU trace (``device.*`` findings,
    :func:`parity.checks.regression.compare_devices`)."""
    from parity.checks.regression import compare_devices

    with Trace(gpu_trace) as gpu, Trace(cpu_trace) as cpu:
        findings = record_errors([gpu, cpu])
        return findings + list(compare_devices(gpu, cpu, tolerances))


def utc_stamp() -> str:
    """``20250101T120000Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def baseline_path(scenario_name: str, backend: str, directory: Path | None = None) -> Path:
    """Where the baseline of one backend for one scenario lives."""
    safe = backend.replace(":", "_").replace("/", "_").replace(".", "_")
    return (directory or BASELINE_DIR) / f"{scenario_name}-{safe}.h5"


def compare_traces(
    ref_path: Path,
    cand_path: Path | None,
    scenario: Any,
    tolerances: Registry,
    families: Sequence[str] | None = None,
) -> list[Finding]:
    """Findings of the cross-backend families (candidate may be absent)."""
    families = [f for f in (scenario.checks if families is None else families) if f in FAMILIES]
    ref = Trace(ref_path)
    cand = Trace(cand_path) if cand_path is not None else None
    try:
        for t in (ref, cand):
            if t is not None:
                t.check_scenario(scenario.name, scenario.hash)
        ctx = Context(ref, cand, scenario, tolerances)
        findings = record_errors([t for t in (ref, cand) if t is not None])
        return findings + run_all(ctx, families)
    finally:
        ref.close()
        if cand is not None:
            cand.close()


RECORD_SECTIONS = ("backend", "environment", "data:load")


def conversion_findings(
    ref_bundle_dir: Path, target: str, tolerances: Registry, workdir: Path
) -> list[Finding]:
    """Explicit conversion of the reference's saved bundle into ``target``
    (:func:`ptychopinn.workflows.convert_bundle`): the converted, reloaded model's forward outputs
    against the original's on a probe batch, under the forward tolerances."""
    import traceback

    from parity.checks.forward import OUTPUT_KIND
    from parity.findings import FAIL, PASS, margin_of

    bundle = ref_bundle_dir / BUNDLE_NAME
    if not bundle.exists():
        return [skipped_finding("bundles.conversion", "*", "the reference saved no bundle")]
    try:
        from ptychopinn.workflows import convert_bundle

        report = convert_bundle(bundle, target, workdir / "converted", rtol=float("inf"))
    except Exception:
        return [error_finding("bundles.conversion", "*", traceback.format_exc(), backend=target)]
    out: list[Finding] = []
    for name, rel in sorted(report.max_rel_diff.items()):
        tol = tolerances.lookup("forward", OUTPUT_KIND.get(name, "activation"), name)
        allowed = tol.rtol
        out.append(
            Finding(
                "bundles.conversion",
                name,
                f"max|diff| / max|original| (rtol {allowed:.3g})",
                rel,
                allowed,
                margin_of(rel, allowed),
                PASS if rel <= allowed else FAIL,
                f"{report.source_backend} bundle converted to {report.target_backend}, saved and "
                f"reloaded: greatest absolute difference {report.max_abs_diff.get(name, 0.0):.3g}, "
                f"relative to the largest output {rel:.3g}",
                backend=target,
            )
        )
    for diff in report.params_differences:
        out.append(
            Finding(
                "bundles.conversion", "params.json", "value", None, None, None, FAIL, diff, target
            )
        )
    return out


def record_errors(traces: Sequence[Trace]) -> list[Finding]:
    """``error`` findings for sections of a recording that belong to no check family (obtaining
    the backend, its environment, loading the data)."""
    out = []
    for trace in traces:
        for section in RECORD_SECTIONS:
            info = trace.sections.get(section)
            if info is not None and info.get("status") != "ok":
                out.append(
                    error_finding(
                        f"record.{section}",
                        section,
                        str(info.get("traceback") or info.get("error", "")),
                        backend=trace.backend,
                    )
                )
    return out


def regression_findings(trace_path: Path, baseline: Path, tolerances: Registry) -> list[Finding]:
    """A trace against its baseline (skipped when no baseline is stored)."""
    from parity.checks.regression import compare_baseline

    if not trace_path.exists():
        return []
    with Trace(trace_path) as current:
        if not baseline.exists():
            return [
                skipped_finding(
                    "regression",
                    "*",
                    f"no baseline at {baseline}; create it with `parity baseline update "
                    f"{current.scenario_name}`",
                    backend=current.backend,
                )
            ]
        try:
            with Trace(baseline) as base:
                return list(compare_baseline(current, base, tolerances))
        except TraceError as exc:
            return [error_finding("regression", "*", str(exc), backend=current.backend)]


def run_scenario(
    scenario: Any,
    backends: Sequence[str],
    *,
    out_root: Path | None = Path("reports"),
    isolate: bool = False,
    inject: Sequence[str] = (),
    oracle: str | None = None,
    data_loader: Callable[..., Any] | None = None,
    metrics_fn: Callable[..., Mapping[str, Any]] | None = None,
    progress: Reporter | None = None,
    baseline_dir: Path | None = None,
    ledger_path: Path | None = None,
    tolerances_path: Path | None = None,
    command: str = "",
    formats: Sequence[str] | None = None,
    only: Sequence[str] | None = None,
    isolate_timeout: float | None = None,
    device: str | None = None,
) -> RunResult:
    """Record, compare, judge and report one scenario.

    ``inject`` names defects (:mod:`parity.defects`) injected into the candidate (the second
    backend). ``only`` restricts the comparisons (not the recording) to some check families.
    ``device`` (cpu, gpu or auto; None: the scenario's ``[run] device``) is where the backends
    compute; a cross-device scenario chooses for itself (module docstring).
    With ``out_root=None`` no report is written and the traces stay in a temporary directory
    (``result.traces``).
    """
    progress = progress or Silent()
    backends = list(backends)
    run_device = device or scenario.run.device
    device_skip: list[Finding] = []
    if scenario.run.cross_device and device != "gpu":
        # auto (or the scenario's setting): the GPU where every backend sees one
        reasons = {
            spec: "--device cpu was given" if device == "cpu" else gpu_visible(spec)
            for spec in backends
        }
        run_device = "cpu" if any(reasons.values()) else "gpu"
        without = [spec for spec, why in reasons.items() if why]
        for spec, why in reasons.items():
            if run_device == "cpu":
                if device == "cpu":
                    lead = why
                elif why:
                    lead = f"{NO_GPU_REASON} ({why})"
                else:
                    lead = f"{NO_GPU_REASON} ({', '.join(without)} sees none)"
                device_skip.append(
                    skipped_finding(
                        "device",
                        "*",
                        f"{lead}: the recording on the GPU, its comparison with the CPU "
                        "recording and the comparison of the backends on the GPU were not run; "
                        "the backends were compared on the CPU",
                        backend=spec,
                    )
                )
    the_plan = plan(scenario, backends, isolate, inject, run_device)
    progress.note(the_plan.describe())
    tolerances = (
        Registry.load(tolerances_path) if tolerances_path else Registry.load()
    ).with_overrides(scenario.tolerances, scenario.source)
    entries = (
        ledger_mod.load(ledger_path) if ledger_path or ledger_mod.DEFAULT_PATH.exists() else []
    )
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    stamp = utc_stamp()
    root = Path(out_root) if out_root is not None else None
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="parity-run-")) if root is None else None
    if root is not None:
        work = work_directory(root, f"{stamp}-{scenario.name}")
    else:
        assert scratch is not None
        work = scratch
    complete = False
    try:
        traces_dir = work / "traces"
        traces_dir.mkdir()
        trace_paths: dict[str, Path] = {}
        findings: list[Finding] = []
        oracle_obj = None
        if oracle is not None and not isolate:
            from parity.registry import get_oracle

            oracle_obj = get_oracle(oracle)

        def record_one(
            spec: str,
            path: Path,
            reference: Path | None,
            defects: list[str],
            bundle_dir: Path | None,
            device: str,
        ) -> tuple[int, str]:
            """Record ``spec`` into ``path``, in a subprocess with ``isolate``; returns the
            subprocess's exit code and stderr tail (0 and "" in process)."""
            if not isolate:
                record(
                    spec,
                    scenario,
                    path,
                    reference=reference,
                    oracle=oracle_obj,
                    data_loader=data_loader,
                    defects=defects,
                    metrics_fn=metrics_fn,
                    progress=progress,
                    bundle_dir=bundle_dir,
                    device=device,
                )
                return 0, ""
            try:
                return record_isolated(
                    spec,
                    scenario,
                    path,
                    reference=reference,
                    inject=defects,
                    oracle=oracle,
                    workdir=work,
                    bundle_dir=bundle_dir,
                    timeout=isolate_timeout,
                    device=device,
                    progress=progress,
                )
            except subprocess.TimeoutExpired as exc:
                return -1, f"timed out after {exc.timeout} s"

        def defects_of(i: int) -> list[str]:
            return list(inject) if i == len(backends) - 1 and len(backends) > 1 else []

        paths = [traces_dir / f"{i}-{spec.replace(':', '_')}.h5" for i, spec in enumerate(backends)]
        bundle_dirs: list[Path | None] = [
            work / "bundles" / f"{i}-{spec.replace(':', '_')}" for i, spec in enumerate(backends)
        ]
        early_regression: dict[str, list[Finding]] = {}

        def regression_of(path: Path) -> list[Finding]:
            with Trace(path) as t:
                name = t.backend
            return regression_findings(
                path, baseline_path(scenario.name, name, baseline_dir), tolerances
            )

        families = [f for f in scenario.checks if only is None or f in only]
        warmed = False

        def recorded(i: int) -> None:
            """While the other recording runs: this trace's regression check and, once, the
            report's imports."""
            nonlocal warmed
            if paths[i].exists() and "regression" in families:
                early_regression[backends[i]] = regression_of(paths[i])
            if root is not None and not warmed:
                from parity.report import warm_up

                warm_up(formats)
                warmed = True

        if isolate and side_by_side(backends, run_device):
            outcomes = record_side_by_side(
                backends,
                scenario,
                paths,
                bundle_dirs,
                inject=inject,
                oracle=oracle,
                workdir=work,
                timeout=isolate_timeout,
                device=run_device,
                progress=progress,
                on_finished=recorded,
            )
        else:
            outcomes = []
            for i, spec in enumerate(backends):
                reference = paths[0] if i > 0 and paths[0].exists() else None
                outcomes.append(
                    record_one(spec, paths[i], reference, defects_of(i), bundle_dirs[i], run_device)
                )
        for spec, path, (code, err) in zip(backends, paths, outcomes):
            if path.exists():
                trace_paths[spec] = path
            else:
                findings.append(
                    error_finding(
                        "record",
                        "*",
                        f"recording subprocess of {spec} exited with code {code} and left no "
                        f"trace:\n{err}",
                        backend=spec,
                    )
                )
        cpu_paths: dict[str, Path] = {}
        if scenario.run.cross_device and run_device == "gpu":
            for i, spec in enumerate(backends):
                if spec not in trace_paths:
                    continue
                path = traces_dir / f"{i}-{spec.replace(':', '_')}-cpu.h5"
                reference = trace_paths.get(backends[0]) if i > 0 else None
                _, err = record_one(spec, path, reference, defects_of(i), None, "cpu")
                if path.exists():
                    cpu_paths[spec] = path
                else:
                    findings.append(
                        error_finding(
                            "device",
                            "*",
                            f"the CPU recording of {spec} left no trace:\n{err}",
                            spec,
                        )
                    )
        names, environment, timings = _trace_meta(trace_paths)
        _, cpu_environment, cpu_timings = _trace_meta(cpu_paths)
        for name in cpu_environment:
            environment[f"{name} (cpu)"] = cpu_environment[name]
            timings[f"{name} (cpu)"] = cpu_timings[name]
        ref_spec = backends[0]
        cand_spec = backends[1] if len(backends) > 1 else None
        progress.start("compare")
        t1 = time.perf_counter()
        compared = [f for f in families if f in FAMILIES]
        if ref_spec in trace_paths:
            cand_path = trace_paths.get(cand_spec) if cand_spec else None
            if cand_spec is not None and cand_path is None:
                findings += [
                    error_finding(
                        fam,
                        "*",
                        f"no trace of {cand_spec}: see the record error",
                        backend=cand_spec,
                    )
                    for fam in compared
                ]
            findings += compare_traces(
                trace_paths[ref_spec], cand_path, scenario, tolerances, compared
            )
        else:
            findings += [
                error_finding(
                    fam,
                    "*",
                    f"no trace of the reference {ref_spec}: see the record error",
                    backend=ref_spec,
                )
                for fam in compared
            ]
        if (
            "bundles" in families
            and scenario.run.convert_bundles
            and cand_spec is not None
            and {ref_spec, cand_spec} <= set(BACKEND_NAMES)
            and cand_spec in trace_paths
        ):
            progress.start("conversion")
            t2 = time.perf_counter()
            findings += conversion_findings(
                work / "bundles" / f"0-{ref_spec}", cand_spec, tolerances, work / "bundles"
            )
            progress.finish("conversion", "ok", time.perf_counter() - t2)
        findings += device_skip
        for spec, cpu_path in cpu_paths.items():
            findings += device_findings(trace_paths[spec], cpu_path, tolerances)
        if "regression" in families:
            for spec, path in trace_paths.items():
                early = early_regression.get(spec)
                findings += regression_of(path) if early is None else early
        findings = ledger_mod.apply(
            findings, entries, scenario.name, families, model=ledger_mod.model_fields(scenario)
        )
        progress.finish("compare", "ok", time.perf_counter() - t1)
        result = RunResult(
            scenario=scenario,
            backends=backends,
            traces=trace_paths,
            findings=findings,
            names=names,
            environment=environment,
            timings=timings,
            started=started.isoformat(timespec="seconds"),
            seconds=time.perf_counter() - t0,
            command=command,
            inject=list(inject),
        )
        if root is not None:
            from parity.report import write_all

            progress.start("report")
            t1 = time.perf_counter()
            write_all(result, work, formats=formats)
            progress.finish("report", "ok", time.perf_counter() - t1)
            final = publish(work, root, f"{stamp}-{scenario.name}")
            result.report_dir = final
            result.traces = {k: final / v.relative_to(work) for k, v in trace_paths.items()}
        complete = True
        return result
    finally:
        if not complete and root is not None:
            shutil.rmtree(work, ignore_errors=True)
        if scratch is not None and complete is False:
            shutil.rmtree(scratch, ignore_errors=True)


def _trace_meta(paths: Mapping[str, Path]) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    names: dict[str, str] = {}
    env: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for spec, path in paths.items():
        with Trace(path) as t:
            names[spec] = t.backend
            env[t.backend] = {
                "environment": t.meta_json("environment", {}),
                "versions": t.meta_json("versions", {}),
                "device": t.meta.get("device", "unknown"),
                "device_facts": t.meta_json("device_facts", {}),
                "git_revision": t.meta.get("git_revision", "unknown"),
                "injected_defects": t.meta_json("injected_defects", []),
                "data_source": t.meta.get("data_source", ""),
            }
            timings[t.backend] = t.meta_json("timings", {})
    return names, env, timings
