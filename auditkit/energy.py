"""Energy meters: measured where the hardware exposes a counter, estimated (and labelled so) else.

Order of preference: the NVML energy counter of the GPU in use, then Intel RAPL under
/sys/class/powercap, then an estimate. NVML numbers GPUs as the host does and ignores
CUDA_VISIBLE_DEVICES, so the GPU is found by the UUID or PCI address torch reports; when neither
matches, the energy is estimated (and says why) rather than read from another GPU.

Two estimates exist because they cost different amounts: CodeCarbon's `OfflineEmissionsTracker`
(about 2 s to start, fine once per audit) and the same power model applied to the process's CPU
time (free, used per runner stage). Both take the CPU's power from CodeCarbon's CPU table, so
the stage and audit estimates agree.

This module imports neither torch nor CodeCarbon at import time: the runner imports it for
every run.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from auditkit.errors import AuditkitError

log = logging.getLogger(__name__)

Method = Literal["measured", "estimated"]
POWERCAP_ROOT = Path("/sys/class/powercap")


@dataclass(frozen=True)
class EnergyReading:
    """Joules over one measured interval, with how they were obtained."""

    joules: float | None
    method: Method | None
    source: str
    seconds: float
    co2e_g: float | None = None  # only CodeCarbon's tracker computes this itself


class EnergyMeter:
    """start() then stop() -> EnergyReading; one interval per start."""

    method: Method = "estimated"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> EnergyReading:
        raise NotImplementedError


# --------------------------------------------------------------------------- NVML (GPU)


@dataclass(frozen=True)
class TorchGpu:
    """What torch knows about one of its CUDA devices that NVML can be asked about too."""

    index: int  # torch's index: counts only the GPUs CUDA_VISIBLE_DEVICES leaves visible
    name: str | None
    uuid: str | None  # "GPU-…"/"MIG-…" as NVML spells it, or torch's bare hex form
    pci: tuple[int, int, int] | None  # (domain, bus, device)


def torch_gpu(index: int) -> TorchGpu:
    """torch's UUID and PCI address of `cuda:index`, where this torch build exposes them."""
    import torch

    props = torch.cuda.get_device_properties(index)
    uuid = getattr(props, "uuid", None)
    uuid = str(uuid).strip() if uuid is not None and str(uuid).strip() else None
    pci = tuple(getattr(props, f"pci_{part}_id", None) for part in ("domain", "bus", "device"))
    return TorchGpu(
        index,
        getattr(props, "name", None),
        uuid,
        None if None in pci else tuple(int(v) for v in pci),  # type: ignore[arg-type]
    )


class GpuNotMatched(AuditkitError):
    """NVML lists no GPU that is provably the one torch runs on."""


def nvml_handle(nvml, gpu: TorchGpu) -> tuple[object, str]:
    """The NVML handle of the GPU torch calls `cuda:{gpu.index}`, and how it was matched.

    NVML numbers every GPU on the host and ignores CUDA_VISIBLE_DEVICES, so torch's index is
    not an NVML index: with CUDA_VISIBLE_DEVICES=2, torch's cuda:0 is NVML's GPU 2. The match
    is by UUID (nvmlDeviceGetHandleByUUID), else by PCI address over NVML's GPUs; with neither
    this raises GpuNotMatched rather than read a guessed GPU's counter.
    """
    tried = []
    if gpu.uuid:
        bare = gpu.uuid.split("-", 1)[1] if gpu.uuid[:4] in ("GPU-", "MIG-") else gpu.uuid
        candidates = [gpu.uuid] if bare != gpu.uuid else [f"GPU-{bare}", f"MIG-{bare}"]
        for uuid in candidates:
            try:
                return nvml.nvmlDeviceGetHandleByUUID(uuid), f"UUID {uuid}"
            except nvml.NVMLError as exc:
                tried.append(f"UUID {uuid}: {exc}")
    else:
        tried.append("torch gives no UUID")
    if gpu.pci is not None:
        address = "{:04x}:{:02x}:{:02x}".format(*gpu.pci)
        matches = []
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            info = nvml.nvmlDeviceGetPciInfo(handle)
            if (int(info.domain), int(info.bus), int(info.device)) == gpu.pci:
                matches.append(handle)
        if len(matches) == 1:
            return matches[0], f"PCI address {address}"
        tried.append(f"PCI address {address}: {len(matches)} NVML GPUs have it")
    else:
        tried.append("torch gives no PCI address")
    raise GpuNotMatched(
        f"cuda:{gpu.index} matches no NVML GPU ({'; '.join(tried)}); energy is not read from "
        "a guessed GPU"
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlMeter(EnergyMeter):
    """The GPU's total-energy counter (millijoules since driver load), read before and after.

    `index` is torch's device index; the NVML device is the one whose UUID or PCI address
    matches it (see nvml_handle), never NVML's device of the same number.
    """

    method: Method = "measured"

    def __init__(self, index: int = 0) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self.index = index
        self._handle, self.matched_by = nvml_handle(pynvml, torch_gpu(index))
        self.name = _text(pynvml.nvmlDeviceGetName(self._handle))
        self.uuid = _text(pynvml.nvmlDeviceGetUUID(self._handle))
        log.debug("energy: cuda:%d is NVML GPU %s (%s), matched by %s", index, self.uuid,
                  self.name, self.matched_by)  # fmt: skip
        self._read()  # raises NVMLError_NotSupported on GPUs without the counter (pre-Volta)

    def _read(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)) / 1000.0

    def start(self) -> None:
        self._t0, self._e0 = time.perf_counter(), self._read()

    def stop(self) -> EnergyReading:
        joules = self._read() - self._e0
        return EnergyReading(
            joules,
            "measured",
            f"NVML energy counter, cuda:{self.index} = {self.uuid} ({self.name}, matched by "
            f"{self.matched_by}); GPU board only, not the CPU",
            time.perf_counter() - self._t0,
        )


# --------------------------------------------------------------------------- RAPL (CPU)


@dataclass(frozen=True)
class RaplDomain:
    name: str
    energy_file: Path
    max_range_uj: int


def rapl_domains(root: Path | None = None) -> list[RaplDomain]:
    """The top-level package zones (intel-rapl:N) whose counters this process can read.

    Sub-zones (intel-rapl:N:M, core/uncore/dram) are inside the package figure, so they are
    left out to avoid counting twice. `root` defaults to POWERCAP_ROOT, read at call time so
    a test can point the whole meter chain at a tree of its own.
    """
    root = POWERCAP_ROOT if root is None else Path(root)
    found: list[RaplDomain] = []
    if not root.is_dir():
        return found
    for zone in sorted(root.iterdir()):
        parts = zone.name.split(":")
        if len(parts) != 2 or not parts[0].endswith("rapl"):
            continue
        energy = zone / "energy_uj"
        try:
            int(energy.read_text().strip())
            name = (zone / "name").read_text().strip() if (zone / "name").exists() else zone.name
            max_range = int((zone / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):  # unreadable (root-only since 2020 on many kernels)
            continue
        found.append(RaplDomain(name, energy, max_range))
    return found


class RaplMeter(EnergyMeter):
    """Sum of the package counters; a counter that wrapped adds its range once."""

    method: Method = "measured"

    def __init__(self, root: Path | None = None) -> None:
        self.root = POWERCAP_ROOT if root is None else Path(root)
        self.domains = rapl_domains(self.root)
        if not self.domains:
            raise AuditkitError(f"no readable RAPL package counters under {self.root}")

    def _read(self) -> list[int]:
        return [int(d.energy_file.read_text().strip()) for d in self.domains]

    def start(self) -> None:
        self._t0, self._e0 = time.perf_counter(), self._read()

    def stop(self) -> EnergyReading:
        total_uj = 0
        for domain, before, after in zip(self.domains, self._e0, self._read(), strict=True):
            delta = after - before
            if delta < 0:  # the counter wrapped around (at most once per interval)
                delta += domain.max_range_uj
            total_uj += delta
        names = ", ".join(d.name for d in self.domains)
        return EnergyReading(
            total_uj / 1e6,
            "measured",
            f"RAPL {self.root} ({names}); CPU packages only",
            time.perf_counter() - self._t0,
        )


# --------------------------------------------------------------------------- estimates


@functools.lru_cache(maxsize=1)
def cpu_power_model() -> tuple[str, float, int]:
    """(CPU model, TDP in W, logical CPUs) from CodeCarbon's CPU table, looked up once.

    CodeCarbon falls back to 4 W per thread for a CPU it does not know; its process-mode
    estimate is then TDP × the process's share of all CPUs, which is what CpuTimeMeter uses.
    """
    try:
        from codecarbon.core.cpu import TDP

        quiet_codecarbon()  # "we don't know your CPU" is expected; the source string says so

        tdp = TDP()
        model, watts = tdp.model, tdp.tdp
    except Exception as exc:  # CodeCarbon missing or its CPU probe failed
        log.debug("CodeCarbon CPU lookup failed: %s", exc)
        model, watts = "unknown", None
    threads = os.cpu_count() or 1
    return model, float(watts or 4 * threads), threads


class CpuTimeMeter(EnergyMeter):
    """Process CPU seconds × (CPU TDP / logical CPUs): free to read, so usable per stage."""

    method: Method = "estimated"

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()

    def _cpu_seconds(self) -> float:
        t = self._proc.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def start(self) -> None:
        self._t0, self._c0 = time.perf_counter(), self._cpu_seconds()

    def stop(self) -> EnergyReading:
        cpu_s = self._cpu_seconds() - self._c0
        model, tdp, threads = cpu_power_model()
        return EnergyReading(
            cpu_s * tdp / threads,
            "estimated",
            f"process CPU time {cpu_s:.1f} s × {tdp:g} W TDP / {threads} threads "
            f"({model}, CodeCarbon's CPU table); RAM and idle power not included",
            time.perf_counter() - self._t0,
        )


class CodeCarbonMeter(EnergyMeter):
    """CodeCarbon's OfflineEmissionsTracker for this process: CPU + RAM, and CO2e by country."""

    method: Method = "estimated"

    def __init__(self, country_iso_code: str) -> None:
        self.country_iso_code = country_iso_code

    def start(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        quiet_codecarbon()
        self._tracker = OfflineEmissionsTracker(
            country_iso_code=self.country_iso_code,
            output_methods=[],  # no emissions.csv in the cwd: the audit records the figures
            log_level="error",
            tracking_mode="process",
            measure_power_secs=1,
            allow_multiple_runs=True,
        )
        self._t0 = time.perf_counter()
        self._tracker.start()

    def stop(self) -> EnergyReading:
        emissions_kg = self._tracker.stop()
        data = self._tracker.final_emissions_data
        kwh = float(data.energy_consumed) if data is not None else None
        hardware = ", ".join(str(h) for h in getattr(self._tracker, "_hardware", []))
        # CodeCarbon labels its own figure: a RAPL/NVML reading inside it would be measured,
        # but the meter chain tries those first, so here it is its load-based estimate.
        return EnergyReading(
            None if kwh is None else kwh * 3.6e6,
            "estimated",
            f"CodeCarbon {_codecarbon_version()} OfflineEmissionsTracker, process mode, "
            f"country {self.country_iso_code} ({hardware or 'CPU + RAM'})",
            time.perf_counter() - self._t0,
            co2e_g=None if emissions_kg is None else float(emissions_kg) * 1000.0,
        )


def quiet_codecarbon() -> None:
    """CodeCarbon logs its set-up at INFO/WARNING before it applies `log_level`; the audit
    reports what matters (method and source) itself. Importing it resets the level, so this
    imports it first."""
    import codecarbon  # noqa: F401

    logging.getLogger("codecarbon").setLevel(logging.ERROR)


def _codecarbon_version() -> str:
    try:
        import codecarbon

        return codecarbon.__version__
    except Exception:  # pragma: no cover
        return "?"


# --------------------------------------------------------------------------- choosing


def nvml_meter(device: str) -> tuple[EnergyMeter | None, str]:
    """An NVML meter for a CUDA device, or None and why not."""
    if not str(device).startswith("cuda"):
        return None, "not a CUDA device"
    try:
        import torch

        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        return NvmlMeter(index), ""
    except ImportError:
        return None, "pynvml is not installed"
    except GpuNotMatched as exc:
        _warn_once(f"energy: {exc}; estimating instead")
        return None, str(exc)
    except Exception as exc:  # NVMLError_NotSupported, driver missing, ...
        return None, f"NVML: {type(exc).__name__}: {exc}"


@functools.lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    """The runner meters every stage; one warning per distinct reason is enough."""
    log.warning(message)


def choose_meter(
    device: str,
    *,
    country_iso_code: str = "USA",
    cheap: bool = False,
    root: Path | None = None,
) -> tuple[EnergyMeter, list[str]]:
    """The best meter for `device`, and why each better one was not used.

    `cheap=True` (per runner stage) estimates from CPU time instead of starting CodeCarbon.
    `root` is the powercap tree (default POWERCAP_ROOT, read at call time).
    """
    skipped = []
    meter, why = nvml_meter(device)
    if meter is not None:
        return meter, skipped
    skipped.append(f"NVML: {why}")
    if not str(device).startswith("cuda"):  # RAPL sees the CPU; on a GPU run it would mislead
        try:
            return RaplMeter(root), skipped
        except AuditkitError as exc:
            skipped.append(f"RAPL: {exc}")
    if cheap:
        return CpuTimeMeter(), skipped
    return CodeCarbonMeter(country_iso_code), skipped


@functools.lru_cache(maxsize=32)
def carbon_intensity(country_iso_code: str) -> tuple[float, str]:
    """Grid carbon intensity in g CO2e/kWh for an ISO 3166 alpha-3 code, from CodeCarbon's data."""
    from codecarbon.input import DataSource

    mix = DataSource().get_global_energy_mix_data()
    entry = mix.get(country_iso_code.upper())
    if entry is None:
        raise AuditkitError(
            f"efficiency.country_iso_code {country_iso_code!r} is not in CodeCarbon's energy-mix "
            "table",
            hint="use an ISO 3166 alpha-3 code such as USA, FRA, DEU, FIN, GBR",
        )
    return float(entry["carbon_intensity"]), f"{entry.get('country_name', country_iso_code)}"


class StageMeter:
    """What the runner wraps each stage in: cheap, never raises, returns (joules, method, src)."""

    def __init__(self, device: str) -> None:
        try:
            self._meter: EnergyMeter | None = choose_meter(device, cheap=True)[0]
            if isinstance(self._meter, CpuTimeMeter):
                cpu_power_model()  # the one-off CPU lookup (~1 s) happens outside the stage
            self._meter.start()
        except Exception as exc:  # energy is a nice-to-have; a stage must never fail over it
            log.debug("stage energy meter unavailable: %s", exc)
            self._meter = None

    def stop(self) -> tuple[float | None, Method | None, str | None]:
        if self._meter is None:
            return None, None, None
        try:
            reading = self._meter.stop()
        except Exception as exc:
            log.debug("stage energy meter failed: %s", exc)
            return None, None, None
        joules = None if reading.joules is None else round(reading.joules, 3)
        return joules, reading.method, f"energy: {reading.source}"
