"""The GPU switch (`forecast.accelerator=gpu`): neural forecasters train on a CUDA device.

Marked `gpu` and skipped where no CUDA device is visible; `make test` / `make test-all` never
select it (`-m "not gpu"`); run it with `pytest -m gpu` on a machine with a GPU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from src.features import columns as C
from src.forecast.generators import daily_panel
from src.forecast.metrics import Y_HAT
from src.forecast.neural import DartsForecaster

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("kind", ["lstm", "tft"])
def test_neural_forecaster_trains_and_predicts_on_the_gpu(kind):
    panel, static = daily_panel(n_series=6, length=150, seed=2)
    cut = panel[C.DS].max() - pd.Timedelta(days=14)
    train = panel[panel[C.DS] <= cut].drop(columns="true_rate")
    future = panel[panel[C.DS] > cut].drop(columns=[C.Y, "true_rate"])
    model = DartsForecaster(
        kind=kind,
        input_chunk_length=14,
        output_chunk_length=14,
        hidden_size=16,
        epochs=5,
        train_window=None,
        num_samples=50,
        accelerator="gpu",
    )
    fc = model.fit(train, static).predict(14, future)
    assert len(fc) == 6 * 14 and np.isfinite(fc[Y_HAT]).all() and (fc[Y_HAT] >= 0).all()
    assert next(model.model_.model.parameters()).device.type == "cuda"
