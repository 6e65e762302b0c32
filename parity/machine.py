"""Machine fingerprint: what decides whether two runs of the same code can be bitwise identical.

float32 results depend on the order of reductions, which the libraries choose from the CPU
(vector width, instruction set), the number of threads and their own version. Two traces with the
same fingerprint were recorded under the same choices; a regression against a baseline from
another fingerprint must allow the reordering the cross-backend tolerances allow.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
IGNORED_VERSION_KEYS = ("platform",)
"""Version entries that do not change numerics (``platform`` carries the kernel release)."""


def _cpuinfo(path: Path = CPUINFO) -> tuple[str, list[str]]:
    """CPU model name and instruction-set flags of the first processor (Linux), else the
    processor string of :mod:`platform` and no flags."""
    model, flags = "", list[str]()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = sorted(value.split())
    return model or platform.processor() or "unknown", flags


def fingerprint(
    versions: Mapping[str, str], device: str, device_name: str | None = None
) -> dict[str, Any]:
    """The fingerprint of this machine for a recording made with ``versions`` on ``device``
    (``cpu`` or ``gpu``; ``device_name``: the GPU's model, which chooses its kernels);
    ``id`` is a digest of every other entry."""
    model, flags = _cpuinfo()
    libc = " ".join(platform.libc_ver()).strip()
    content: dict[str, Any] = {
        "cpu": model,
        "cpu_flags_sha256": hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16],
        "cpu_flag_count": len(flags),
        "arch": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "libc": libc or "unknown",
        "device": device,
        "versions": {
            k: str(v) for k, v in sorted(versions.items()) if k not in IGNORED_VERSION_KEYS
        },
    }
    if device_name:
        content["device_name"] = device_name
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    return {"id": digest, **content}


def device_kind(fingerprint_or_meta: Mapping[str, Any] | None) -> str:
    """``cpu``, ``gpu`` or ``unknown``: the device a fingerprint (or trace meta) records;
    traces recorded before devices were chosen ran on the CPU unless they say otherwise."""
    value = str((fingerprint_or_meta or {}).get("device") or "cpu").lower()
    return value if value in ("cpu", "gpu") else "unknown"


def describe_device(facts: Mapping[str, Any] | None, kind: str = "") -> str:
    """One line about a device from its facts (:class:`backends.core.devices.DeviceFacts`)."""
    facts = facts or {}
    kind = str(facts.get("kind") or kind or "unknown")
    parts = [kind]
    if facts.get("name"):
        parts.append(str(facts["name"]))
    for label, key in (
        ("driver", "driver_version"),
        ("CUDA", "cuda_version"),
        ("cuDNN", "cudnn_version"),
    ):
        if kind == "gpu" and facts.get(key):
            parts.append(f"{label} {facts[key]}")
    if kind == "gpu" and facts.get("tf32") is not None:
        parts.append("TF32 " + ("on" if facts["tf32"] else "off"))
    flags = facts.get("determinism")
    if isinstance(flags, Mapping):
        on = sorted(str(k) for k, v in flags.items() if v is True)
        if on:
            parts.append("deterministic: " + ", ".join(on))
    return "; ".join(parts)


def differences(current: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None) -> str:
    """How two fingerprints differ, in words; empty when they are the same machine."""
    if not baseline:
        return "the baseline records no machine fingerprint (recorded before fingerprints)"
    if not current:
        return "the current trace records no machine fingerprint"
    if current.get("id") == baseline.get("id"):
        return ""
    changed = []
    for key in sorted(set(current) | set(baseline)):
        if key == "id" or current.get(key) == baseline.get(key):
            continue
        if key == "versions":
            now, then = current.get(key) or {}, baseline.get(key) or {}
            changed += [
                f"{name} {then.get(name, '-')} -> {now.get(name, '-')}"
                for name in sorted(set(now) | set(then))
                if now.get(name) != then.get(name)
            ]
        else:
            changed.append(f"{key} {baseline.get(key)!r} -> {current.get(key)!r}")
    return "machine differs: " + "; ".join(changed)
