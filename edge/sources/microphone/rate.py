"""The analysis rate of the voice path (16 kHz mono) and the conversion to it.

Other rates are resampled with `edge.dsp.Resampler` (the FIR of scipy's
`resample_poly`, streaming).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.dsp import Resampler

ANALYSIS_RATE = 16000


def to_analysis_rate(x: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    """Resample mono float audio from `rate` to 16 kHz."""
    if rate == ANALYSIS_RATE:
        return x.astype(np.float32, copy=False)
    r = Resampler(rate, ANALYSIS_RATE)
    return np.concatenate([r(x), r.flush()]).astype(np.float32)
