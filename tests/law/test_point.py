"""The emergence point's export."""

import json
import math

import numpy as np

from emergence.law import EmergencePoint


def test_to_dict_is_plain_json_with_non_finite_numbers_as_none():
    pt = EmergencePoint(None, np.float64(2.5), 2.4, math.inf, 0.1, "profile", flops=np.float32(1e20))
    d = pt.to_dict()
    assert d["loss_upper"] is None and d["data_amount"] is None and type(d["loss"]) is float
    assert type(d["flops"]) is float and d["upper_open"] is False
    json.dumps(d, allow_nan=False)
