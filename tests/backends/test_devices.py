"""Devices: ``--device cpu|gpu|auto`` resolution, the facts recorded, the command-line option,
the scenario setting, regression across device kinds and the cross-device scenario.

The resolution logic and the engine's GPU path run here with fake GPU counts (a NumPy fake
backend that pretends to see a GPU); the ``gpu``-marked tests at the end train and infer on a
real GPU and skip with the reason elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.core import devices as core
from parity import engine, machine
from parity import scenario as sc
from parity.errors import InputError
from tests.parity.fakes import FakeBackend
from tests.parity.helpers import ORACLE, fake_scenario

# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize("count", [0, 1, 4])
@pytest.mark.parametrize("requested", ["cpu", "gpu", "auto", "GPU", " Auto "])
def test_resolution_follows_the_request_and_the_gpu_count(requested: str, count: int) -> None:
    wanted = requested.strip().lower()
    if wanted == "gpu" and count == 0:
        with pytest.raises(
            ValueError, match=r"no GPU is visible to Torchlike.*--device cpu or auto"
        ):
            core.resolve_device(requested, count, "Torchlike")
        return
    expected = {"cpu": "cpu", "gpu": "gpu", "auto": "gpu" if count else "cpu"}[wanted]
    assert core.resolve_device(requested, count, "Torchlike") == expected


@pytest.mark.parametrize("bad", ["tpu", "cuda:1", ""])
def test_an_unknown_device_names_the_option_and_the_choices(bad: str) -> None:
    with pytest.raises(ValueError, match=r"--device .* is not a device; choose one of cpu, gpu"):
        core.resolve_device(bad, 1)


def test_a_negative_gpu_count_is_refused() -> None:
    with pytest.raises(ValueError, match="gpu_count=-1"):
        core.resolve_device("auto", -1)


@pytest.mark.parametrize(
    ("device", "accelerator", "expected"),
    [
        (None, None, "auto"),
        ("cpu", None, "cpu"),
        (None, "cuda", "gpu"),
        (None, "gpu", "gpu"),
        ("auto", "cpu", "cpu"),
        ("gpu", "auto", "gpu"),
        ("gpu", "cuda", "gpu"),
    ],
)
def test_device_and_accelerator_mean_the_same(
    device: str | None, accelerator: str | None, expected: str
) -> None:
    execution = {} if accelerator is None else {"accelerator": accelerator}
    assert core.requested_device(device, execution) == expected


def test_device_and_accelerator_that_disagree_are_refused() -> None:
    with pytest.raises(ValueError, match=r"--device cpu contradicts .*accelerator='gpu'"):
        core.requested_device("cpu", {"accelerator": "gpu"})


def test_execution_settings_accept_every_device_and_refuse_others() -> None:
    from backends.config.execution import execution_values

    for name in ("auto", "cpu", "gpu", "cuda"):
        assert execution_values({"accelerator": name}) == {"accelerator": name}
    with pytest.raises(ValueError, match=r"accelerator='mps'.*'gpu'"):
        execution_values({"accelerator": "mps"})


# --------------------------------------------------------------------------- facts


def test_device_facts_are_json_safe_and_round_trip() -> None:
    facts = core.DeviceFacts(
        kind="gpu",
        name="Some GPU",
        framework="torch x",
        gpu_count=2,
        cuda_version="12.4",
        cudnn_version="90100",
        compute_capability="9.0",
        tf32=False,
        determinism={"flags": (True, Path("/x")), "workspace": ":4096:8"},
    )
    text = json.dumps(facts.to_dict())
    back = json.loads(text)
    assert back["determinism"]["flags"] == [True, "/x"]
    assert core.DeviceFacts.from_dict({**back, "unknown": 1}).to_dict() == back
    with pytest.raises(ValueError, match="device kind 'tpu'"):
        core.DeviceFacts(kind="tpu", name="x", framework="y")


def test_describe_device_names_the_gpu_versions_and_tf32() -> None:
    line = machine.describe_device(
        {
            "kind": "gpu",
            "name": "Some GPU",
            "cuda_version": "12.4",
            "cudnn_version": "9",
            "tf32": False,
            "determinism": {"cudnn_deterministic": True, "cudnn_benchmark": False},
        }
    )
    assert line.split("; ")[:5] == ["gpu", "Some GPU", "CUDA 12.4", "cuDNN 9", "TF32 off"]
    assert "cudnn_deterministic" in line and "cudnn_benchmark" not in line
    assert machine.describe_device(None, "cpu") == "cpu"


def test_fingerprints_of_a_cpu_stay_as_they_were_and_a_gpu_names_its_model() -> None:
    cpu = machine.fingerprint({"numpy": "2"}, "cpu")
    assert "device_name" not in cpu
    assert machine.fingerprint({"numpy": "2"}, "cpu", None)["id"] == cpu["id"]
    gpu = machine.fingerprint({"numpy": "2"}, "gpu", "Some GPU")
    assert gpu["device_name"] == "Some GPU" and gpu["id"] != cpu["id"]
    assert (machine.device_kind(cpu), machine.device_kind(gpu)) == ("cpu", "gpu")
    assert machine.device_kind(None) == machine.device_kind({"device": None}) == "cpu"
    assert machine.device_kind({"device": "mps"}) == "unknown"


@pytest.mark.pytorch
def test_pytorch_refuses_a_gpu_it_cannot_see_and_records_its_facts() -> None:
    import torch

    import backends

    backend: Any = backends.get("pytorch")
    from backends.pytorch import devices

    if devices.gpu_count():
        pytest.skip("a GPU is visible: the refusal cannot be shown here")
    with pytest.raises(ValueError, match="--device gpu: no GPU is visible to PyTorch"):
        backend.use_device("gpu")
    assert backend.use_device("auto", gpu_count=0) == "cpu" == backend.device
    env = backend.environment()
    assert env["device"] == "cpu"
    facts = json.loads(json.dumps(env["device_facts"]))
    assert facts["kind"] == "cpu" and facts["framework"].startswith("torch ")
    assert set(facts["determinism"]) >= {"deterministic_algorithms", "cudnn_deterministic"}
    tensor = devices.from_numpy(np.arange(6, dtype=np.float64).reshape(2, 3), np.float32)
    assert tensor.device.type == "cpu" and tensor.dtype == torch.float32
    assert devices.lightning_accelerator() == "cpu"


@pytest.fixture
def meta_device() -> Any:
    """PyTorch's current device set to ``meta`` (shapes only, no data) for the test: torch
    refuses to mix a meta tensor with a CPU tensor, so anything the backend still made on the
    CPU fails here as it would on a GPU."""
    import torch

    from backends.pytorch import devices

    before = devices.current()
    devices._current = torch.device("meta")
    try:
        yield torch.device("meta")
    finally:
        devices._current = before


@pytest.mark.pytorch
@pytest.mark.parametrize("gridsize", [1, 2])
def test_pytorch_forward_losses_and_an_adam_step_stay_on_the_chosen_device(
    meta_device: Any, gridsize: int
) -> None:
    import torch

    from backends.config import ModelConfig
    from backends.core.losses import LossWeights
    from backends.pytorch import devices
    from backends.pytorch.model import build_model
    from backends.pytorch.train import KerasAdam, TensorBatch, compute_losses, to_nchw

    with pytest.raises(RuntimeError):  # what a stray CPU tensor would meet
        torch.zeros(3) + torch.zeros(3, device=meta_device)
    n, c = 64, gridsize * gridsize
    model = devices.place(build_model(ModelConfig(N=n, gridsize=gridsize), np.ones((n, n)), 50.0))
    assert {p.device for p in model.parameters()} == {meta_device}
    x = to_nchw(np.ones((2, n, n, c), np.float32))
    positions = to_nchw(np.zeros((2, 1, 2, c), np.float32))
    y = to_nchw(np.ones((2, n, n, c), np.float32))
    assert x.device == positions.device == meta_device
    weights = LossWeights(nll=1.0, mae=1.0, realspace=1.0, realspace_mae=1.0, tv=1.0)
    total, terms = compute_losses(model, TensorBatch(x, positions, y), weights)
    assert {t.device for t in terms.values()} == {meta_device}
    total.backward()
    KerasAdam(model.parameters()).step()
    assert {p.device for p in model.parameters()} == {meta_device}


@pytest.mark.pytorch
def test_pytorch_reference_ops_take_their_inputs_to_the_chosen_device(meta_device: Any) -> None:
    from backends.pytorch import ops

    images = np.ones((1, 8, 8, 2), np.complex64)
    with pytest.raises(NotImplementedError, match="meta"):  # _n's .cpu() meets a meta tensor
        ops.NUMPY_OPS.translate(images, np.zeros((1, 2), np.float32))
    moved = ops.translate(ops._t(images).permute(0, 3, 1, 2), ops._t(np.zeros((1, 2))))
    assert moved.device == meta_device


@pytest.mark.tensorflow
def test_tensorflow_refuses_a_gpu_it_cannot_see_and_records_its_facts() -> None:
    import backends

    backend: Any = backends.get("tensorflow")
    from backends.tensorflow import devices

    if devices.gpu_count():
        pytest.skip("a GPU is visible: the refusal cannot be shown here")
    with pytest.raises(ValueError, match="--device gpu: no GPU is visible to TensorFlow"):
        backend.use_device("gpu")
    assert backend.use_device("auto", gpu_count=0) == "cpu" == backend.device
    assert devices.device_name() == "/CPU:0"
    env = backend.environment()
    facts = json.loads(json.dumps(env["device_facts"]))
    assert env["device"] == facts["kind"] == "cpu"
    assert "op_determinism" in facts["determinism"]
    from backends.config import ModelConfig

    handle = backend.build(ModelConfig(N=64, gridsize=1), np.ones((64, 64), np.complex64), 50.0)
    placed = {v.value.device for v in handle.models.autoencoder.weights}
    assert placed and all(d.endswith("CPU:0") for d in placed)


# --------------------------------------------------------------------------- command line


def _parse(*argv: str) -> Any:
    from parity.cli import build_parser

    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "default"),
    [
        (["run", "smoke"], None),
        (["record", "--backend", "pytorch", "smoke", "-o", "t.h5"], None),
        (["train", "--train-data", "builtin:x"], "auto"),
        (["infer", "--model", "m", "--data", "d", "--output-dir", "o"], "auto"),
    ],
)
def test_every_command_takes_device(argv: list[str], default: str | None) -> None:
    assert _parse(*argv).device == default
    assert _parse(*argv, "--device", "GPU").device == "gpu"
    assert _parse(*argv, "--device", "cpu").device == "cpu"


def test_an_unknown_device_on_the_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse("run", "smoke", "--device", "tpu")
    assert exc.value.code == 2
    assert "choose one of cpu, gpu, auto" in capsys.readouterr().err


@pytest.mark.pytorch
@pytest.mark.parametrize("command", ["record", "train", "infer"])
def test_commands_refuse_a_gpu_that_is_not_there(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backends.pytorch import devices
    from parity.cli import main

    if devices.gpu_count():
        pytest.skip("a GPU is visible: the refusal cannot be shown here")
    argv = {
        "record": ["record", "--backend", "pytorch", "smoke", "-o", str(tmp_path / "t.h5")],
        "train": [
            *("train", "--backend", "pytorch", "--train-data", "builtin:lines-64-small"),
            *("--output-dir", str(tmp_path / "run"), "--epochs", "1"),
        ],
        "infer": [
            *("infer", "--backend", "pytorch", "--model", str(tmp_path / "none")),
            *("--data", "builtin:lines-64-small:test", "--output-dir", str(tmp_path / "out")),
        ],
    }[command]
    assert main([*argv, "--device", "gpu"]) == 2
    assert "--device gpu: no GPU is visible to PyTorch" in capsys.readouterr().err
    assert not (tmp_path / "t.h5").exists() and not (tmp_path / "run" / "wts.h5.zip").exists()


# --------------------------------------------------------------------------- scenarios


def test_the_scenario_device_is_validated_and_not_hashed() -> None:
    base = fake_scenario()
    raw = base.to_dict()
    raw["run"] = {**raw["run"], "device": "gpu", "cross_device": True}
    other = sc.from_dict({k: v for k, v in raw.items() if k in sc.TOP_KEYS})
    assert (other.run.device, other.run.cross_device) == ("gpu", True)
    assert other.hash == base.hash
    raw["run"]["device"] = "tpu"
    with pytest.raises(InputError, match=r"\[run\].device must be one of cpu, gpu, auto"):
        sc.from_dict({k: v for k, v in raw.items() if k in sc.TOP_KEYS}, source="x.toml")


def test_the_cross_device_scenario_is_built_in() -> None:
    cross = sc.load("cross-device")
    assert cross.run.cross_device and cross.run.device == "auto"
    assert "regression" not in cross.checks


# --------------------------------------------------------------------------- fake GPU


class DeviceFake(FakeBackend):
    """The NumPy fake with device placement and ``gpus`` pretend GPUs; on the pretend GPU every
    stage carries relative noise ``gpu_noise`` (another reduction order)."""

    gpus = 1

    def __init__(self, name: str, gpu_noise: float) -> None:
        super().__init__(name)
        self.gpu_noise = gpu_noise
        self.device = "cpu"

    def use_device(self, requested: str, gpu_count: int | None = None) -> str:
        self.device = core.resolve_device(requested, self.gpus, "the fake")
        self.noise = self.gpu_noise if self.device == "gpu" else 0.0
        return self.device

    def environment(self) -> dict[str, Any]:
        facts = core.DeviceFacts(kind=self.device, name=f"fake {self.device}", framework="numpy")
        return {**super().environment(), "device": self.device, "device_facts": facts.to_dict()}


class NoGpuFake(DeviceFake):
    gpus = 0


def fake_gpu() -> DeviceFake:
    return DeviceFake("fake-reference", gpu_noise=3e-7)


def fake_gpu_candidate() -> DeviceFake:
    return DeviceFake("fake-candidate", gpu_noise=3e-7)


def fake_gpu_reordering() -> DeviceFake:
    return DeviceFake("fake-reference", gpu_noise=3e-5)


def fake_gpu_drifting() -> DeviceFake:
    return DeviceFake("fake-candidate", gpu_noise=3e-2)


def fake_no_gpu() -> DeviceFake:
    return NoGpuFake("fake-reference", gpu_noise=0.0)


def fake_no_gpu_candidate() -> DeviceFake:
    return NoGpuFake("fake-candidate", gpu_noise=0.0)


HERE = "tests.backends.test_devices"
CHECKS = ["params", "ops", "forward", "gradients", "training", "inference"]


def _cross(
    tmp_path: Path, backends: list[str], device: str | None = None, isolate: bool = False
) -> Any:
    scenario = fake_scenario(checks=CHECKS)
    raw = scenario.to_dict()
    raw["run"] = {**raw["run"], "device": "auto", "cross_device": True}
    cross = sc.from_dict({k: v for k, v in raw.items() if k in sc.TOP_KEYS}, source="<test>")
    return engine.run_scenario(
        cross,
        backends,
        out_root=tmp_path / "reports" if isolate else None,
        oracle=ORACLE,
        device=device,
        isolate=isolate,
    )


def test_without_a_gpu_the_device_half_is_skipped_with_the_reason(tmp_path: Path) -> None:
    result = _cross(tmp_path, [f"{HERE}:fake_no_gpu", f"{HERE}:fake_no_gpu_candidate"])
    device = [f for f in result.findings if f.check.startswith("device")]
    assert len(device) == 2 and all(f.verdict == "skipped" for f in device)
    assert all(f.evidence.startswith("no GPU is visible to torch/TensorFlow") for f in device)
    assert all("compared on the CPU" in f.evidence for f in device)
    compared = [f for f in result.findings if f.family in ("forward", "training")]
    assert compared and all(f.verdict == "pass" for f in compared)
    assert result.exit_code == 0
    assert {e["device"] for e in result.environment.values()} == {"cpu"}


def test_one_backend_without_a_gpu_keeps_both_on_the_cpu(tmp_path: Path) -> None:
    result = _cross(tmp_path, [f"{HERE}:fake_gpu", f"{HERE}:fake_no_gpu_candidate"])
    device = {f.backend: f for f in result.findings if f.family == "device"}
    assert {f.verdict for f in device.values()} == {"skipped"}
    assert "no GPU is visible to the fake" in device[f"{HERE}:fake_no_gpu_candidate"].evidence
    assert f"{HERE}:fake_no_gpu_candidate sees none" in device[f"{HERE}:fake_gpu"].evidence
    assert {e["device"] for e in result.environment.values()} == {"cpu"}


def test_device_cpu_skips_the_device_half_saying_so(tmp_path: Path) -> None:
    result = _cross(tmp_path, [f"{HERE}:fake_gpu"], device="cpu")
    device = [f for f in result.findings if f.check.startswith("device")]
    assert [f.verdict for f in device] == ["skipped"]
    assert device[0].evidence.startswith("--device cpu was given")


def test_with_a_gpu_each_backend_is_compared_with_itself_on_the_cpu(tmp_path: Path) -> None:
    result = _cross(tmp_path, [f"{HERE}:fake_gpu", f"{HERE}:fake_gpu_candidate"])
    device = [f for f in result.findings if f.family == "device"]
    assert {f.backend for f in device} == {"fake-reference", "fake-candidate"}
    assert device and all(f.verdict in ("pass", "skipped") for f in device)
    assert any(f.check == "device.forward" for f in device)
    envs = result.environment
    assert envs["fake-reference"]["device"] == "gpu"
    assert envs["fake-reference"]["device_facts"]["name"] == "fake gpu"
    assert envs["fake-reference (cpu)"]["device"] == "cpu"
    assert envs["fake-reference (cpu)"]["device_facts"]["kind"] == "cpu"
    assert result.exit_code == 0


@pytest.mark.slow
def test_isolated_recordings_pass_the_device_to_each_subprocess(tmp_path: Path) -> None:
    result = _cross(tmp_path, [f"{HERE}:fake_gpu"], isolate=True)
    device = [f for f in result.findings if f.family == "device"]
    assert any(f.check == "device.forward" and f.verdict == "pass" for f in device)
    # the paths of the two recordings differ (ignored, as across machines); nothing fails
    assert all(f.verdict in ("pass", "skipped") for f in device)
    assert result.environment["fake-reference"]["device"] == "gpu"
    assert result.environment["fake-reference (cpu)"]["device"] == "cpu"


def test_a_device_difference_beyond_the_device_tolerances_fails(tmp_path: Path) -> None:
    result = _cross(tmp_path, [f"{HERE}:fake_gpu", f"{HERE}:fake_gpu_drifting"])
    failing = [f for f in result.findings if f.family == "device" and f.verdict == "fail"]
    assert failing and {f.backend for f in failing} == {"fake-candidate"}
    assert all(f.evidence.startswith("gpu against cpu, [device*] tolerances") for f in failing)


def test_a_cpu_baseline_is_compared_with_a_gpu_run_under_the_device_tolerances(
    tmp_path: Path,
) -> None:
    from parity.trace import slim

    scenario = fake_scenario(checks=["forward", "regression"])
    base_dir = tmp_path / "baselines"
    spec = f"{HERE}:fake_gpu_reordering"
    first = engine.run_scenario(scenario, [spec], out_root=None, oracle=ORACLE, device="cpu")
    slim(
        first.traces[spec],
        engine.baseline_path(scenario.name, "fake-reference", base_dir),
        max_elements=64,
    )
    on_gpu = engine.run_scenario(
        scenario,
        [spec],
        out_root=None,
        oracle=ORACLE,
        device="gpu",
        baseline_dir=base_dir,
    )
    regression = [f for f in on_gpu.findings if f.family == "regression"]
    tensors = [f for f in regression if f.verdict != "skipped" and f.check != "regression.params"]
    assert tensors and all(f.verdict == "pass" for f in regression if f.verdict != "skipped")
    # the pretend GPU moves every value by up to 3e-5 (the same-device entry allows 1e-5 of
    # max, the device entry 1e-4): compared under the device entries, and saying so
    assert all("gpu against cpu, [device*] tolerances" in f.evidence for f in tensors)
    assert any("rtol=0.0001" in f.metric for f in tensors)


def test_gpu_requested_from_a_backend_without_one_is_a_record_error(tmp_path: Path) -> None:
    result = engine.run_scenario(
        fake_scenario(checks=["forward"]),
        [f"{HERE}:fake_no_gpu"],
        out_root=None,
        oracle=ORACLE,
        device="gpu",
    )
    errors = [f for f in result.findings if f.verdict == "error"]
    assert any("no GPU is visible to the fake" in f.evidence for f in errors)
    assert result.exit_code == 1


# --------------------------------------------------------------------------- on a GPU


def _train_and_infer(backend: str, device: str, out: Path) -> dict[str, Any]:
    from backends.config import ModelConfig, TrainingConfig
    from ptychopinn import workflows

    config = TrainingConfig(model=ModelConfig(N=64, gridsize=1), n_groups=64, nepochs=1)
    outcome = workflows.train(
        backend,
        "builtin:lines-64-small",
        "builtin:lines-64-small:test",
        config,
        out / device,
        progress=False,
        device=device,
        checkpoint_every=0,
    )
    history = json.loads(outcome.history.read_text())
    inferred = workflows.infer(
        backend, out / device, "builtin:lines-64-small:test", out / f"{device}-infer", device=device
    )
    with np.load(inferred.reconstruction) as npz:
        stitched = npz["stitched"]
    return {"history": history, "stitched": stitched}


@pytest.mark.gpu
@pytest.mark.both
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pytorch", "tensorflow"])
def test_training_and_inference_on_the_gpu_agree_with_the_cpu(backend: str, tmp_path: Path) -> None:
    on_gpu = _train_and_infer(backend, "gpu", tmp_path)
    on_cpu = _train_and_infer(backend, "cpu", tmp_path)
    assert on_gpu["history"]["device"] == "gpu" and on_cpu["history"]["device"] == "cpu"
    loss_gpu = on_gpu["history"]["epochs"]["loss"]
    loss_cpu = on_cpu["history"]["epochs"]["loss"]
    assert np.allclose(loss_gpu, loss_cpu, rtol=1e-3)
    a, b = on_gpu["stitched"], on_cpu["stitched"]
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) <= 1e-2 * np.max(np.abs(b))


@pytest.mark.gpu
@pytest.mark.both
@pytest.mark.slow
def test_the_cross_device_scenario_on_a_gpu_compares_both_devices(tmp_path: Path) -> None:
    result = engine.run_scenario(sc.load("cross-device"), ["tensorflow", "pytorch"], out_root=None)
    device = [f for f in result.findings if f.family == "device"]
    assert {f.backend for f in device} == {"tensorflow", "pytorch"}
    assert not [f for f in device if f.verdict == "skipped" and f.tensor == "*"]
    assert result.environment["pytorch"]["device"] == "gpu"
    assert result.environment["pytorch (cpu)"]["device"] == "cpu"
