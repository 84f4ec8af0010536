"""nanobragg: X-ray diffraction images of small crystals, from numpy, on any GPU.

The simulator of the nanobragg program (the successor of James Holton's nanoBragg.c): a WebGPU
engine (Vulkan, Metal, DX12, GL) checked against an f64 CPU engine, with nanoBragg.c's
parameters in its units and, with ``c_parity=True``, its exact behaviour.

    import nanobragg
    sim = nanobragg.Simulator(cell=(100, 100, 100, 90, 90, 90), default_F=100, N=5,
                              lambda_=1.0, distance=100, detpixels=512)
    image = sim.render()            # float32 numpy array, (slow, fast), photons per pixel
    frame = sim.render(noise=True)  # the detector's record: integer image, noise image, counts

docs/python.md has the worked examples.
"""

from ._nanobragg import (
    Error,
    NanobraggWarning,
    NexusWriter,
    Recorded,
    Series,
    Shots,
    Simulator,
    Stats,
    __version__,
    gpu_devices,
    help,
    keywords,
)

__all__ = [
    "Error",
    "NanobraggWarning",
    "NexusWriter",
    "Recorded",
    "Series",
    "Shots",
    "Simulator",
    "Stats",
    "__version__",
    "gpu_devices",
    "help",
    "keywords",
]
