"""Efficiency audit: percentile maths, RAPL on a real (fake-rooted) sysfs tree, energy labels,
the FLOP count by hand, and the int8 variant's accuracy delta on real tiny-BERT predictions."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit import energy as E
from auditkit.audits.efficiency import roofline as R
from auditkit.audits.efficiency.timing import (
    TimingResult,
    percentiles,
    sample_batches,
    time_calls,
    timing_cis,
)
from auditkit.errors import AuditkitError

# --------------------------------------------------------------------------- percentiles


def test_percentiles_on_synthetic_timings():
    samples = list(range(100, 0, -1))  # 1..100 ms, in reverse: order must not matter
    p = percentiles(samples)
    # linear interpolation at rank q*(n-1): 49.5 -> 50.5, 89.1 -> 90.1, 98.01 -> 99.01
    assert p.p50 == pytest.approx(50.5)
    assert p.p90 == pytest.approx(90.1)
    assert p.p99 == pytest.approx(99.01)
    assert p.iqr == pytest.approx(75.25 - 25.75)
    assert p.n == 100


def test_one_outlier_moves_p99_but_not_the_median():
    p = percentiles([10.0] * 99 + [1000.0])
    assert p.p50 == 10.0 and p.p90 == 10.0 and p.iqr == 0.0
    assert p.p99 == pytest.approx(10.0 + 0.01 * 990.0)  # rank 98.01: 1 % of the way to 1000


def test_percentiles_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        percentiles([])


def test_batches_cover_the_test_set_and_fill_past_its_size():
    batches = sample_batches([5] * 10, 4, 5, seed=0)
    assert all(len(b) == 4 for b in batches)
    first_pass = np.concatenate(batches)[:10]
    assert sorted(first_pass.tolist()) == list(range(10))  # no row twice before all seen
    big = sample_batches([5] * 3, 8, 2, seed=0)  # batch larger than the test set
    assert [len(b) for b in big] == [8, 8]


def test_time_calls_counts_examples_tokens_and_stops_at_the_budget():
    texts = [f"t{i}" for i in range(20)]
    lengths = list(range(1, 21))
    seen = []
    t = time_calls(
        lambda chunk: seen.append(list(chunk)),
        texts,
        lengths,
        4,
        warmup=2,
        iterations=10,
        min_iterations=3,
        budget_s=1e-12,  # spent by the first call: stops at min_iterations
        device="cpu",
        seed=0,
    )
    assert len(seen) == 2 + 3 and len(t.latencies_ms) == 3
    assert t.examples == 12
    timed = seen[2:]
    assert t.tokens == sum(int(x[1:]) + 1 for chunk in timed for x in chunk)
    assert t.padded_lengths == [max(int(x[1:]) + 1 for x in chunk) for chunk in timed]
    assert t.call_tokens == [sum(int(x[1:]) + 1 for x in chunk) for chunk in timed]
    assert sum(t.call_tokens) == t.tokens


# --------------------------------------------------------------------------- timing CIs


def _timed(latencies_ms, batch_size, tokens):
    """A TimingResult as time_calls builds it: every call one batch of batch_size texts."""
    return TimingResult(
        batch_size,
        list(latencies_ms),
        batch_size * len(latencies_ms),
        int(sum(tokens)),
        [1] * len(latencies_ms),
        sum(latencies_ms) / 1000.0,
        call_tokens=list(tokens),
    )


def test_p50_ci_brackets_the_median_and_is_a_bootstrap_over_the_calls():
    lat = np.array([12.0, 9.5, 11.0, 30.0, 10.0, 10.5, 13.0, 9.0, 11.5, 10.2, 55.0, 10.8])
    t = _timed(lat, 4, [40] * len(lat))
    cis = timing_cis(t, n_resamples=500, seed=7, confidence=0.9)
    low, high = cis["latency_p50_ms"]
    p50 = t.stats.p50
    assert low < p50 < high
    # the same thing by hand: resample the calls with the seed's generator, take the median of
    # each resample (linear interpolation, as percentiles() does), the 5th and 95th percentiles
    idx = np.random.default_rng(7).integers(0, len(lat), size=(500, len(lat)))
    dist = np.percentile(lat[idx], 50, axis=1)
    assert (low, high) == pytest.approx(tuple(np.quantile(dist, [0.05, 0.95])))
    p99 = np.quantile(np.percentile(lat[idx], 99, axis=1), [0.05, 0.95])
    assert cis["latency_p99_ms"] == pytest.approx(tuple(p99))
    assert cis["latency_p99_ms"][1] == 55.0  # the outlier is in most resamples
    # the seed decides the interval, so a rerun of the same timings gives the same CI
    assert timing_cis(t, n_resamples=500, seed=7, confidence=0.9) == cis
    assert timing_cis(t, n_resamples=500, seed=8, confidence=0.9) != cis


def test_rate_cis_are_sum_over_sum_of_the_resampled_calls():
    # identical calls: every resample is the same, a zero-width CI at the value
    same = _timed([20.0] * 5, 8, [50] * 5)
    cis = timing_cis(same, n_resamples=200, seed=0, confidence=0.95)
    assert cis["throughput_per_s"] == pytest.approx((400.0, 400.0))
    assert same.throughput_per_s == pytest.approx(400.0)
    assert cis["tokens_per_s"] == pytest.approx((2500.0, 2500.0))
    assert cis["latency_p50_ms"] == cis["latency_p99_ms"] == (20.0, 20.0)
    # two calls of unequal length: resamples {a,a}, {a,b} (half of them), {b,b}; the middle 40 %
    # of the bootstrap distribution is the mixed resample, where sum/sum gives 8 examples in
    # 40 ms = 200/s (a mean of per-call rates would give (400 + 133.3) / 2 = 266.7/s)
    two = _timed([10.0, 30.0], 4, [20, 20])
    cis = timing_cis(two, n_resamples=4000, seed=0, confidence=0.4)
    assert cis["throughput_per_s"] == pytest.approx((200.0, 200.0))
    assert cis["tokens_per_s"] == pytest.approx((1000.0, 1000.0))  # not (2000 + 666.7) / 2
    wide = timing_cis(two, n_resamples=4000, seed=0, confidence=0.95)
    assert wide["throughput_per_s"] == pytest.approx((8 / 0.06, 400.0))  # {b,b} .. {a,a}
    assert wide["throughput_per_s"][0] < two.throughput_per_s < wide["throughput_per_s"][1]


def test_one_timed_call_has_no_ci():
    from auditkit.audits.efficiency.config import EfficiencyConfig
    from auditkit.audits.efficiency.summary import Measured, _Rows, _variant_rows
    from auditkit.audits.efficiency.variants import Variant

    one = _timed([12.0], 4, [30])
    assert set(timing_cis(one, n_resamples=200, seed=0, confidence=0.95).values()) == {None}
    # through the audit's metrics: the value as before, no interval; two calls get one
    m = Measured(Variant("fp32", None, True, ""))
    m.timings = {1: one, 4: _timed([12.0, 14.0], 4, [30, 34])}
    cfg = EfficiencyConfig(batch_sizes=[1, 4], bootstrap=200)
    metrics = {}
    _variant_rows(m, m, cfg, None, None, 10, 0, metrics, _Rows())
    lone = metrics["fp32.bs1.latency_p50_ms"]
    assert lone.value == 12.0 and lone.ci_low is None and lone.ci_high is None
    assert metrics["fp32.bs1.throughput_per_s"].value == pytest.approx(4 / 0.012)
    assert metrics["fp32.bs1.throughput_per_s"].ci_low is None
    pair = metrics["fp32.bs4.latency_p50_ms"]
    assert pair.value == 13.0 and (pair.ci_low, pair.ci_high) == (12.0, 14.0)


# --------------------------------------------------------------------------- energy


def _zone(root, name, label, energy, max_range=1_000_000):
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return zone


def test_rapl_reads_package_counters_from_a_sysfs_tree(tmp_path):
    root = tmp_path / "powercap"
    pkg0 = _zone(root, "intel-rapl:0", "package-0", 100_000)
    pkg1 = _zone(root, "intel-rapl:1", "package-1", 990_000, max_range=1_000_000)
    core = _zone(root, "intel-rapl:0:0", "core", 5)  # inside package-0: must not count twice
    (root / "intel-rapl:2").mkdir()  # a zone without a readable counter is skipped
    meter = E.RaplMeter(root)
    assert [d.name for d in meter.domains] == ["package-0", "package-1"]
    meter.start()
    (pkg0 / "energy_uj").write_text("2600000\n")  # +2.5 J
    (pkg1 / "energy_uj").write_text("490000\n")  # wrapped: +0.5 J
    (core / "energy_uj").write_text("999999\n")
    reading = meter.stop()
    assert reading.joules == pytest.approx(3.0)
    assert reading.method == "measured"
    assert str(root) in reading.source and "package-1" in reading.source


def test_choose_meter_prefers_rapl_when_readable(tmp_path):
    root = tmp_path / "powercap"
    _zone(root, "intel-rapl:0", "package-0", 0)
    meter, skipped = E.choose_meter("cpu", root=root)
    assert isinstance(meter, E.RaplMeter) and meter.method == "measured"
    assert skipped == ["NVML: not a CUDA device"]


def test_without_rapl_or_nvml_energy_is_estimated(tmp_path):
    empty = tmp_path / "no-powercap"
    meter, skipped = E.choose_meter("cpu", country_iso_code="FIN", root=empty)
    assert isinstance(meter, E.CodeCarbonMeter) and meter.method == "estimated"
    assert any(s.startswith("NVML") for s in skipped) and any(s.startswith("RAPL") for s in skipped)
    cheap, _ = E.choose_meter("cpu", cheap=True, root=empty)
    assert isinstance(cheap, E.CpuTimeMeter)
    cheap.start()
    sum(i * i for i in range(300_000))  # some CPU time to estimate from
    reading = cheap.stop()
    assert reading.method == "estimated" and reading.joules > 0
    assert "CPU time" in reading.source and "CodeCarbon" in reading.source


def test_stage_meter_on_this_machine_is_labelled():
    joules, method, detail = E.StageMeter("cpu").stop()
    if E.rapl_domains():  # a machine with readable RAPL measures
        assert method == "measured"
    else:
        assert method == "estimated" and "CPU time" in detail
    assert joules is not None and joules >= 0


# NVML counts every GPU on the host and ignores CUDA_VISIBLE_DEVICES; torch counts the visible
# ones. The fake below stands in for pynvml at its boundary (same function names and shapes), and
# torch's device properties are replaced the same way: this machine has no GPU.

PHYSICAL = [  # NVML's view of a 4-GPU host: (uuid, (pci domain, bus, device))
    ("GPU-00000000-aaaa-0000-0000-000000000000", (0, 0x17, 0)),
    ("GPU-11111111-bbbb-1111-1111-111111111111", (0, 0x31, 0)),
    ("GPU-22222222-cccc-2222-2222-222222222222", (0, 0xB1, 0)),
    ("GPU-33333333-dddd-3333-3333-333333333333", (0, 0xCA, 0)),
]


def _fake_pynvml(gpus):
    """A module exposing the pynvml calls the meter makes; GPU i's counter adds (i+1) J a read."""
    import types

    nvml = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    counters = [0] * len(gpus)

    def by_index(i):
        if not 0 <= i < len(gpus):
            raise NVMLError("Invalid Argument")
        return ("handle", i)

    def by_uuid(uuid):
        for i, (u, _) in enumerate(gpus):
            if u == uuid:
                return ("handle", i)
        raise NVMLError("Not Found")

    def energy(handle):
        i = handle[1]
        counters[i] += (i + 1) * 1000  # millijoules, as NVML counts
        return counters[i]

    def pci(handle):
        domain, bus, device = gpus[handle[1]][1]
        bus_id = f"{domain:08x}:{bus:02x}:{device:02x}.0"
        return types.SimpleNamespace(domain=domain, bus=bus, device=device, busId=bus_id)

    nvml.NVMLError = NVMLError
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: len(gpus)
    nvml.nvmlDeviceGetHandleByIndex = by_index
    nvml.nvmlDeviceGetHandleByUUID = by_uuid
    nvml.nvmlDeviceGetUUID = lambda handle: gpus[handle[1]][0]
    nvml.nvmlDeviceGetPciInfo = pci
    nvml.nvmlDeviceGetName = lambda handle: f"Fake GPU {handle[1]}".encode()
    nvml.nvmlDeviceGetTotalEnergyConsumption = energy
    return nvml


def _torch_sees(monkeypatch, visible: list[int], *, uuid: bool | str = True, pci: bool = True):
    """torch's cuda:i is physical GPU visible[i] (CUDA_VISIBLE_DEVICES=visible); `uuid` may be
    False (this torch build has none) or a UUID of torch's own to report."""
    import sys
    import types

    import torch

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ",".join(map(str, visible)))
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(PHYSICAL))

    def properties(i):
        nvml_uuid, (domain, bus, device) = PHYSICAL[visible[i]]
        props = types.SimpleNamespace(name="Fake GPU")
        if uuid:  # torch prints the bare hex form, without NVML's "GPU-"
            props.uuid = uuid if isinstance(uuid, str) else nvml_uuid.removeprefix("GPU-")
        if pci:
            props.pci_domain_id, props.pci_bus_id, props.pci_device_id = domain, bus, device
        return props

    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)


def test_nvml_reads_the_gpu_torch_runs_on_not_nvml_gpu_of_the_same_index(monkeypatch, tmp_path):
    _torch_sees(monkeypatch, [2])  # CUDA_VISIBLE_DEVICES=2: torch's cuda:0 is physical GPU 2
    meter, skipped = E.choose_meter("cuda:0", root=tmp_path / "no-powercap")
    assert isinstance(meter, E.NvmlMeter) and skipped == []
    assert meter._handle == ("handle", 2), "NVML's GPU 0 is another process's GPU"
    meter.start()
    reading = meter.stop()
    assert reading.joules == pytest.approx(3.0)  # GPU 2's counter: 3 J per read
    assert reading.method == "measured"
    assert PHYSICAL[2][0] in reading.source and "cuda:0" in reading.source


def test_nvml_matches_by_pci_address_when_torch_gives_no_uuid(monkeypatch):
    _torch_sees(monkeypatch, [0, 3], uuid=False)
    meter, _ = E.choose_meter("cuda:1")  # physical GPU 3, not NVML's GPU 1
    assert isinstance(meter, E.NvmlMeter) and meter._handle == ("handle", 3)
    assert meter.matched_by == "PCI address 0000:ca:00"
    meter.start()
    assert meter.stop().joules == pytest.approx(4.0)


def test_a_gpu_nvml_cannot_match_is_estimated_with_the_reason(monkeypatch, tmp_path, caplog):
    _torch_sees(monkeypatch, [2], uuid=False, pci=False)
    E._warn_once.cache_clear()  # warned once per reason and process
    with caplog.at_level("WARNING", logger="auditkit.energy"):
        meter, skipped = E.choose_meter("cuda:0", root=tmp_path / "no-powercap")
    assert isinstance(meter, E.CodeCarbonMeter) and meter.method == "estimated"
    assert "cuda:0 matches no NVML GPU" in skipped[0] and "guessed" in skipped[0]
    assert any("matches no NVML GPU" in r.getMessage() for r in caplog.records)
    cheap, _ = E.choose_meter("cuda:0", cheap=True, root=tmp_path / "no-powercap")
    assert isinstance(cheap, E.CpuTimeMeter)
    # a UUID NVML does not know is no match either: never fall back to NVML's GPU 0
    _torch_sees(monkeypatch, [2], uuid="99999999-eeee-9999-9999-999999999999", pci=False)
    meter, skipped = E.choose_meter("cuda:0", cheap=True, root=tmp_path / "no-powercap")
    assert isinstance(meter, E.CpuTimeMeter) and "UUID GPU-99999999" in skipped[0]


def test_unknown_country_is_a_clear_error():
    assert E.carbon_intensity("FIN")[0] > 0
    with pytest.raises(AuditkitError, match="XYZ"):
        E.carbon_intensity("XYZ")


# --------------------------------------------------------------------------- roofline


def test_flops_formula_matches_a_hand_count():
    shape = R.EncoderShape(layers=2, hidden=4, intermediate=8, num_labels=3, pooler=True)
    # per layer at L=5: projections 4*2*5*4*4 = 640, feed-forward 2*2*5*4*8 = 640,
    # attention 2*2*5*5*4 = 400 -> 1680; two layers 3360; pooler 2*4*4 = 32; classifier 2*4*3 = 24
    assert R.flops_per_example(shape, 5) == 3360 + 32 + 24
    no_pooler = R.EncoderShape(2, 4, 8, 3, pooler=False)
    assert R.flops_per_example(no_pooler, 5) == 3360 + 24
    flops_per_s, per_example = R.achieved_flops(shape, 2, [5, 5], seconds=2.0)
    assert per_example == 3416 and flops_per_s == pytest.approx(2 * 2 * 3416 / 2.0)


def test_encoder_shape_from_a_real_config_and_gpu_peaks(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=3)
    shape = R.encoder_shape(model)
    assert shape == R.EncoderShape(layers=2, hidden=32, intermediate=64, num_labels=3, pooler=True)
    assert R.peak_gflops("NVIDIA H100 80GB HBM3", "float32") == 67_000
    assert R.peak_gflops("NVIDIA H100 PCIe", "bfloat16") == 756_000
    assert R.peak_gflops(None, "float32") is None
    assert R.peak_gflops("NVIDIA H100 80GB HBM3", "int8") is None


# --------------------------------------------------------------------------- the audit

AUDIT = """  efficiency:
    batch_sizes: [1, 4]
    variants: [int8_dynamic, fp32, bf16]
    warmup: 1
    iterations: 3
    min_iterations: 2
    budget_s: 0.01
    energy_min_seconds: 0
    country_iso_code: FIN
"""


def _run(suite_path, tmp_path, **kw):
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    return run_suite(load_suite(suite_path), out_dir=tmp_path / "reports", **kw)


def test_int8_variant_runs_and_its_delta_is_on_real_predictions(toy_suite, tmp_path, monkeypatch):
    import torch

    # The energy rows below are the estimate's: point RAPL at an empty tree, so a host whose
    # /sys/class/powercap is readable (which would measure instead) gives the same rows.
    monkeypatch.setattr(E, "POWERCAP_ROOT", tmp_path / "no-powercap")

    from auditkit.audits.efficiency.variants import build_variant
    from auditkit.data import load_data
    from auditkit.models import load_handle, resolve_model
    from auditkit.suite import load_suite

    path = toy_suite("  enabled: false", audits=AUDIT)
    results, _ = _run(path, tmp_path)
    eff = results.audits["efficiency"]
    assert eff.status == "ok", eff.error

    # Rebuild the same model (same seed for the fresh head) and score the variants here.
    suite = load_suite(path)
    bundle = load_data(suite)
    torch.manual_seed(suite.seed)
    handle = load_handle(
        resolve_model(suite.model.id, None, suite.base_dir),
        bundle.label_names,
        device="cpu",
        max_length=suite.model.max_length,
        pooling=suite.model.pooling,
    )
    texts, y = list(bundle.test["text"]), np.asarray(bundle.test["label"])
    before = {k: v.clone() for k, v in handle.model.state_dict().items()}
    acc = {}
    for name in ("fp32", "int8_dynamic"):
        variant = build_variant(name, handle)
        assert variant.available, variant.note
        acc[name] = float((variant.handle.predict_proba(texts).argmax(1) == y).mean())
    # building the int8 copy left the original module untouched
    assert not any("quantized" in type(m).__module__ for m in handle.model.modules())
    assert all(torch.equal(before[k], v) for k, v in handle.model.state_dict().items())

    m = eff.metrics
    assert m["int8_dynamic.accuracy_delta"].value == pytest.approx(
        acc["int8_dynamic"] - acc["fp32"]
    )
    assert m["fp32.accuracy_delta"].value == 0.0
    trade = eff.tables["tradeoffs"].records()
    assert {(r["variant"], r["batch_size"]) for r in trade} == {
        (v, b) for v in ("fp32", "bf16", "int8_dynamic") for b in (1, 4)
    }
    fp32_acc = next(r["accuracy"] for r in trade if r["variant"] == "fp32")
    assert fp32_acc == pytest.approx(acc["fp32"])
    # the declared comparison against fp32, which the report turns into its one-line finding
    from auditkit import comparison

    changes = comparison.from_table(eff.tables["variant_changes"])
    assert {(c.subject, c.metric) for c in changes} == {
        (v, k) for v in ("bf16", "int8_dynamic") for k in ("accuracy", "macro_f1")
    }
    int8 = next(c for c in changes if (c.subject, c.metric) == ("int8_dynamic", "accuracy"))
    assert int8.delta == pytest.approx(acc["int8_dynamic"] - acc["fp32"])
    assert int8.ci_kind == "paired" and int8.ci_low <= int8.delta <= int8.ci_high
    int8_size = next(r["size_mb"] for r in trade if r["variant"] == "int8_dynamic")
    assert int8_size < m["size_on_disk_mb"].value  # int8 weights are smaller
    for v in ("fp32", "bf16", "int8_dynamic"):
        for b in (1, 4):
            p50 = m[f"{v}.bs{b}.latency_p50_ms"].value
            assert 0 < p50 <= m[f"{v}.bs{b}.latency_p99_ms"].value
            assert m[f"{v}.bs{b}.throughput_per_s"].value > 0
    # between min_iterations and iterations: a fast machine may finish all 3 within budget_s
    assert all(2 <= r["iterations"] <= 3 for r in eff.tables["latency"].records())
    # the timed metrics carry a bootstrap CI over the timed calls, around the unchanged value
    timed = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "throughput_per_s")
    for r in eff.tables["latency"].records():
        key = f"{r['variant']}.bs{r['batch_size']}"
        assert m[f"{key}.latency_p50_ms"].value == r["p50_ms"]
        assert m[f"{key}.throughput_per_s"].value == r["throughput_per_s"]
        for name in (*timed, "tokens_per_s"):
            metric = m[f"{key}.{name}"]
            assert metric.ci_low <= metric.value <= metric.ci_high, (key, name, metric)
    assert eff.config["confidence"] == 0.95 and eff.config["bootstrap"] == 1000
    from auditkit.api.outputs import check
    from auditkit.audits.efficiency.outputs import OUTPUTS

    assert check(OUTPUTS, eff) == []  # every metric with or without a CI as declared

    # energy: no RAPL (pinned above) and no NVML (CPU), so estimated, with its source and why
    # the measured meters were not used; CO2e from the FIN grid
    energy = eff.tables["energy"].records()
    assert energy[0]["method"] == "estimated" and "CodeCarbon" in energy[0]["source"]
    assert "no readable RAPL package counters" in energy[0]["source"]
    assert energy[0]["j_per_1k"] > 0 and energy[0]["co2e_g"] > 0
    assert m["energy_j_per_1k"].value == energy[0]["j_per_1k"]
    assert m["parameters"].value == sum(p.numel() for p in handle.model.parameters())
    assert m["achieved_gflops"].value > 0 and m["peak_share"].value is None  # CPU: no peak

    # the runner measured every stage; the profile lists the ones before this audit
    assert [s.name for s in results.stages] == ["data", "model", "audit:efficiency"]
    assert all(s.energy_method in ("measured", "estimated") for s in results.stages)
    profile = eff.tables["stage_profile"].records()
    assert [r["stage"] for r in profile] == ["data", "model"]
    assert sum(r["share"] for r in profile) == pytest.approx(1.0)


def test_variants_must_include_the_fp32_reference(toy_suite):
    from auditkit.errors import SuiteError
    from auditkit.suite import load_suite

    path = toy_suite(audits="  efficiency:\n    variants: [int8_dynamic]\n")
    with pytest.raises(SuiteError, match="fp32"):
        load_suite(path).audit_configs()


@pytest.mark.slow
def test_train_stage_energy_reaches_the_energy_table(tiny_bert, tmp_path):
    from tests.conftest import toy_rows, write_csv, write_suite

    write_csv(tmp_path / "small.csv", toy_rows(90))
    audit = AUDIT.replace("[int8_dynamic, fp32, bf16]", "[fp32]").replace("[1, 4]", "[4]")
    path = write_suite(
        tmp_path,
        f"""
name: small
model: {{id: {tiny_bert}, max_length: 32}}
data: {{source: csv, path: small.csv, labels: [negative, positive, neutral]}}
training: {{epochs: 1, batch_size: 16}}
audits:
  performance: {{bootstrap: 100}}
{audit}""",
    )
    results, _ = _run(path, tmp_path)
    train = next(s for s in results.stages if s.name == "train")
    assert train.energy_j > 0 and train.energy_method in ("measured", "estimated")
    eff = results.audits["efficiency"]
    assert eff.status == "ok", eff.error
    assert eff.metrics["train_energy_j"].value == train.energy_j
    assert eff.metrics["train_wall_time_s"].value == train.wall_time_s
    rows = eff.tables["energy"].records()
    assert any(r["what"].startswith("stage train") and r["joules"] == train.energy_j for r in rows)
    assert [r["stage"] for r in eff.tables["stage_profile"].records()] == [
        "data",
        "model",
        "train",
        "audit:performance",
    ]


@pytest.mark.gpu
def test_cuda_path_measures_with_nvml_and_reports_peak_share(toy_suite, tmp_path):
    path = toy_suite("  enabled: false", audits=AUDIT.replace("int8_dynamic, ", ""))
    results, _ = _run(path, tmp_path, device="cuda")
    eff = results.audits["efficiency"]
    assert eff.status == "ok", eff.error
    m = eff.metrics
    assert m["peak_cuda_memory_mb"].value > 0
    energy = eff.tables["energy"].records()[0]
    assert energy["method"] == "measured" and "NVML" in energy["source"]
    assert energy["joules"] > 0
    assert results.stages[0].energy_method == "measured"
    roof = eff.tables["roofline"].records()
    known = R.peak_gflops(results.manifest.device_name, "float32") is not None
    if known:  # a GPU in the peak table: the share is a fraction of the datasheet peak
        assert 0 < m["peak_share"].value < 1
    assert {r["variant"] for r in roof} == {"fp32", "bf16"}


def test_variant_copies_of_a_mean_pooled_model_pool_their_own_mask(tiny_bert):
    from auditkit.audits.efficiency.variants import _copy_module, _handle_like, build_variant
    from auditkit.models import ModelSource, load_handle

    source = ModelSource("local", str(tiny_bert), str(tiny_bert))
    handle = load_handle(source, ["a", "b", "c"], device="cpu", pooling="mean")
    texts = ["profit rose", "the company said its quarterly sales in europe fell sharply"] * 3
    reference = handle.predict_proba(texts, batch_size=2)
    copy = _handle_like(handle, _copy_module(handle))
    np.testing.assert_allclose(copy.predict_proba(texts, batch_size=2), reference, atol=1e-6)
    int8 = build_variant("int8_dynamic", handle)
    assert int8.available, int8.note
    assert np.abs(int8.handle.predict_proba(texts, batch_size=2) - reference).max() < 0.05
