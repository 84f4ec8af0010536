"""The Python package against the command line it shares its core with.

Run by tests/python.rs (the README's `cargo test --release`), which installs the package into a
scratch folder and passes the program (NANOBRAGG_BIN), the golden corpus (NANOBRAGG_GOLDEN) and
whether the GPU must be there (NANOBRAGG_REQUIRE_GPU). Every image compared here is compared bit
for bit.
"""

import os
import shutil
import subprocess
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import nanobragg

BIN = os.environ.get("NANOBRAGG_BIN")
GOLDEN = Path(os.environ.get("NANOBRAGG_GOLDEN", Path(__file__).resolve().parents[2] / ".." / "shared" / "golden"))
REQUIRE_GPU = os.environ.get("NANOBRAGG_REQUIRE_GPU") == "1"

# small golden cases, each read from its own folder (their inputs are relative to it)
CASES = ["a01_simple_cubic_canonical", "a02_triclinic_P1_canonical", "a04_at001_det64"]

SMALL = dict(cell=(50, 60, 70, 90, 95, 90), default_F=100, N=4, lambda_=1.0, distance=100, detpixels=48, pixel=0.2, oversample=1, misset=(10, 20, 30), seed=7)
SMALL_ARGS = "-cell 50 60 70 90 95 90 -default_F 100 -N 4 -lambda 1.0 -distance 100 -detpixels 48 -pixel 0.2 -oversample 1 -misset 10 20 30 -seed 7".split()


def cli(args, cwd):
    """The program run with `args` in `cwd`; its stderr on failure."""
    assert BIN, "NANOBRAGG_BIN names the nanobragg program"
    done = subprocess.run([BIN, *args], cwd=cwd, capture_output=True, text=True)
    return done


def staged(case, tmp_path):
    """The golden case's folder copied under `tmp_path`, with the shared inputs beside it as
    `../inputs` (nothing a run writes, such as nanoBragg.c's Fdump.bin, lands in the corpus)."""
    folder = GOLDEN / case
    if not folder.exists():
        pytest.fail(f"the golden corpus is missing: {folder}")
    shutil.copytree(folder, tmp_path / case)
    if (GOLDEN / "inputs").exists():
        shutil.copytree(GOLDEN / "inputs", tmp_path / "inputs")
    return tmp_path / case


def float_file(path, shape):
    return np.fromfile(path, dtype="<f4").reshape(shape)


def smv_pixels(path, shape, dtype="<u2"):
    data = Path(path).read_bytes()
    return np.frombuffer(data[512:], dtype=dtype).reshape(shape)


def gpu_or_skip(sim_kwargs=None):
    """A GPU is there (lavapipe in CI), or the test skips; with NANOBRAGG_REQUIRE_GPU=1 it fails."""
    try:
        nanobragg.Simulator(**dict(SMALL, detpixels=8, engine="gpu")).render()
    except nanobragg.Error as e:
        if REQUIRE_GPU:
            raise
        pytest.skip(f"no GPU: {e}")


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("case", CASES)
def test_golden_cases_equal_the_c_program_and_the_cli_on_the_cpu(case, tmp_path):
    folder = staged(case, tmp_path)
    args = (folder / "cmd.txt").read_text().split()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        sim = nanobragg.Simulator.from_args(args + ["-c_parity", "-engine", "cpu"])
        image = sim.render()
    finally:
        os.chdir(cwd)
    assert image.dtype == np.float32 and image.shape == sim.shape
    c = float_file(folder / "float.bin", image.shape)
    assert np.array_equal(bits(image), bits(c)), f"{case}: not nanoBragg.c's float image bit for bit"
    out = tmp_path / "cli.bin"
    done = cli(args + ["-c_parity", "-engine", "cpu", "-floatfile", str(out), "-nopgm", "-nonoise", "-intfile", str(tmp_path / "i.img"), "-quiet"], folder)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(bits(image), bits(float_file(out, image.shape))), f"{case}: not the command line's float image"


@pytest.mark.parametrize("case", CASES)
def test_golden_cases_equal_the_cli_on_the_gpu(case, tmp_path):
    gpu_or_skip()
    folder = staged(case, tmp_path)
    args = (folder / "cmd.txt").read_text().split()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        sim = nanobragg.Simulator.from_args(args + ["-engine", "gpu"])
        image = sim.render()
    finally:
        os.chdir(cwd)
    assert sim.engine_used == "gpu"
    out = tmp_path / "cli.bin"
    done = cli(args + ["-engine", "gpu", "-floatfile", str(out), "-nopgm", "-nonoise", "-intfile", str(tmp_path / "i.img"), "-quiet"], folder)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(bits(image), bits(float_file(out, image.shape))), f"{case}: not the command line's GPU image"


@pytest.mark.parametrize("engine", ["cpu", "gpu"])
def test_the_recorded_frame_is_the_command_lines(engine, tmp_path):
    if engine == "gpu":
        gpu_or_skip()
    sim = nanobragg.Simulator(**SMALL, engine=engine)
    frame = sim.render(noise=True)
    done = cli(SMALL_ARGS + ["-engine", engine, "-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img", "-nopgm", "-quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    shape = sim.shape
    assert np.array_equal(bits(frame.photons), bits(float_file(tmp_path / "f.bin", shape)))
    assert np.array_equal(frame.int_image, smv_pixels(tmp_path / "i.img", shape))
    assert np.array_equal(frame.noise_image, smv_pixels(tmp_path / "n.img", shape))
    # and the writers write the command line's files
    frame.write_smv(tmp_path / "py_n.img", noise=True)
    assert (tmp_path / "py_n.img").read_bytes() == (tmp_path / "n.img").read_bytes()


def test_keywords_and_arguments_give_the_same_image():
    by_keywords = nanobragg.Simulator(**SMALL, engine="cpu").render()
    by_args = nanobragg.Simulator.from_args(SMALL_ARGS + ["-engine", "cpu"]).render()
    assert np.array_equal(bits(by_keywords), bits(by_args))
    assert by_keywords.any(), "a dark image would show nothing"


def test_structure_factors_from_numpy_equal_the_hkl_file(tmp_path):
    hkl = np.array([(h, k, l) for h in range(-4, 5) for k in range(-4, 5) for l in range(-4, 5)], dtype=np.int32)
    f = (10.0 + np.abs(hkl).sum(axis=1) * 3.5).astype(np.float64)
    path = tmp_path / "t.hkl"
    path.write_text("".join(f"{h} {k} {l} {v}\n" for (h, k, l), v in zip(hkl, f)))
    params = {k: v for k, v in SMALL.items() if k != "default_F"}
    from_file = nanobragg.Simulator(**params, hkl=str(path), engine="cpu").render()
    from_arrays = nanobragg.Simulator(**params, hkl=hkl, F=f, engine="cpu").render()
    assert np.array_equal(bits(from_file), bits(from_arrays))
    # a table of columns (as a dict; pandas and reciprocalspaceship tables go the same way)
    from_table = nanobragg.Simulator(**params, hkl={"H": hkl[:, 0], "K": hkl[:, 1], "L": hkl[:, 2], "F": f}, engine="cpu").render()
    assert np.array_equal(bits(from_file), bits(from_table))


def test_errors_carry_the_command_lines_message(tmp_path):
    assert issubclass(nanobragg.Error, ValueError)
    done = cli(["-distance", "-5", "-default_F", "1", "-cell", "50", "50", "50", "90", "90", "90"], tmp_path)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1].split("error: ", 1)[1]
    with pytest.raises(nanobragg.Error) as argv_form:
        nanobragg.Simulator.from_args(["-distance", "-5", "-default_F", "1", "-cell", "50", "50", "50", "90", "90", "90"])
    assert str(argv_form.value) == message
    with pytest.raises(nanobragg.Error) as keyword_form:
        nanobragg.Simulator(**dict(SMALL, distance=-5))
    assert "distance" in str(keyword_form.value) and "greater than zero" in str(keyword_form.value)
    with pytest.raises(nanobragg.Error, match="frobnicate"):
        nanobragg.Simulator(**SMALL, frobnicate=1)


def test_two_simulators_with_other_structure_factors_in_one_process():
    hkl = np.array([(h, k, l) for h in range(-5, 6) for k in range(-5, 6) for l in range(-5, 6)], dtype=np.int32)
    params = {k: v for k, v in SMALL.items() if k != "default_F"}
    first_f = 10.0 + (7 * hkl[:, 0] + 13 * hkl[:, 1] + 3 * hkl[:, 2]) % 17
    second_f = 30.0 + (5 * hkl[:, 0] + 11 * hkl[:, 1] + 2 * hkl[:, 2]) % 23
    engines = ["cpu"]
    try:
        gpu_or_skip()
        engines.append("gpu")
    except pytest.skip.Exception:
        pass
    for engine in engines:
        a = nanobragg.Simulator(**params, hkl=hkl, F=first_f, engine=engine)
        b = nanobragg.Simulator(**params, hkl=hkl, F=second_f, engine=engine)
        images = [a.render(), b.render(), a.render(), b.render()]
        assert not np.array_equal(images[0], images[1]), engine
        assert np.array_equal(bits(images[0]), bits(images[2])), f"{engine}: the first simulator's image changed"
        assert np.array_equal(bits(images[1]), bits(images[3])), f"{engine}: the second simulator's image changed"
        fresh = nanobragg.Simulator(**params, hkl=hkl, F=second_f, engine=engine).render()
        assert np.array_equal(bits(images[1]), bits(fresh)), engine


def test_renders_from_two_threads_on_one_simulator():
    sim = nanobragg.Simulator(**dict(SMALL, detpixels=96), engine="cpu")
    alone = sim.render()
    results = [None] * 4
    errors = []

    def work(i):
        try:
            results[i] = sim.render()
        except Exception as e:  # the test reports it below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results:
        assert np.array_equal(bits(r), bits(alone))


def test_a_series_rotates_the_crystal_frame_by_frame(tmp_path):
    sim = nanobragg.Simulator(**SMALL, engine="cpu", osc=1.0)
    frames = [f.copy() for f in sim.series(frames=3, osc=1.0)]
    assert len(frames) == 3
    assert not np.array_equal(frames[0], frames[1])
    done = cli(SMALL_ARGS + ["-engine", "cpu", "-osc", "1", "-frames", "3", "-floatfile", "s_###.bin", "-intfile", "s_###.img", "-nopgm", "-nonoise", "-quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    for k, frame in enumerate(frames, start=1):
        assert np.array_equal(bits(frame), bits(float_file(tmp_path / f"s_{k:03d}.bin", frame.shape))), f"frame {k}"


def test_ctrl_c_interrupts_a_render_and_leaves_the_simulator_usable():
    import signal

    # long enough on the CPU engine that the signal lands inside it (tens of seconds on 2
    # cores, were it not stopped); Python's own handler, whatever the parent process left
    # (a SIGINT ignored by the process that started pytest stays ignored)
    sim = nanobragg.Simulator(**dict(SMALL, detpixels=2048, oversample=6, N=10), engine="cpu")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sim.render()
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    small = nanobragg.Simulator(**SMALL, engine="cpu")
    assert np.array_equal(bits(small.render()), bits(nanobragg.Simulator(**SMALL, engine="cpu").render()))
    sim.set(detpixels=32)
    assert sim.render().shape == (32, 32)


def test_a_thousand_renders_do_not_grow_the_process():
    import resource

    # 128² float32 is 64 KiB a frame: a thousand kept frames would be 64 MiB
    sim = nanobragg.Simulator(**dict(SMALL, detpixels=128), engine="cpu")
    for _ in range(100):
        sim.render()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(1000):
        sim.render(noise=True)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 16 * 1024, f"the process grew by {grown_kib} KiB over 1000 renders"


def test_deleting_the_last_simulator_frees_its_gpu_device():
    import gc

    gpu_or_skip()
    gc.collect()
    assert nanobragg.gpu_devices() == [], "a device outlived the simulators of earlier tests"
    first = nanobragg.Simulator(**SMALL, engine="gpu")
    second = nanobragg.Simulator(**dict(SMALL, N=3), engine="gpu")
    first.render(), second.render()
    assert len(nanobragg.gpu_devices()) == 1, "two simulators of the same options hold one device"
    del first
    gc.collect()
    assert len(nanobragg.gpu_devices()) == 1, "the device went while a simulator held it"
    del second
    gc.collect()
    assert nanobragg.gpu_devices() == [], "the device outlived its last simulator"
