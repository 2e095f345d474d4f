"""convert.verify's measures on hand-made scores, worked out by hand."""

import numpy as np
import pytest

from convert import verify


def test_fidelity_counts_agreement_ties_and_steps():
    step = 0.5
    graph = np.array(
        [
            [2.0, 1.0, 0.0],  # the file agrees exactly
            [2.0, 1.6, 0.0],  # the file picks class 1, one step below the top: a tie
            [2.0, 0.0, 1.0],  # the file picks class 2, two steps below: a real flip
            [0.0, 3.0, 1.0],
        ]
    )  # agrees, but one logit is three steps off
    tflite = np.array([[2.0, 1.0, 0.0], [1.5, 2.0, 0.0], [1.0, 0.0, 2.0], [1.5, 3.0, 1.0]])
    found = verify.fidelity(tflite, graph, step)
    assert found["top1_agreement"] == 0.5  # rows 0 and 3
    assert found["top1_agreement_up_to_ties"] == 0.75  # and row 1
    assert found["within_2_steps"] == 0.75  # rows 0-2 (0, 1, 2 steps)
    assert found["max_steps"] == pytest.approx(3.0)  # row 3: 1.5 / 0.5
    assert found["median_steps"] == pytest.approx(1.5)  # of 0, 1, 2, 3


def test_agreement_accuracy_and_relative_l2():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    reference = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    assert verify.agreement(scores, reference) == pytest.approx(2 / 3)
    assert verify.accuracy(scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    # ||s - r|| = sqrt(.01 + .01 + .64 + .64 + .09 + .09) = sqrt(1.48); ||r|| = sqrt(3)
    assert verify.relative_l2(scores, reference) == pytest.approx(np.sqrt(1.48 / 3))


def test_output_floor_rounds_the_float_logits_to_the_output_steps():
    logits = np.array(
        [
            [1.00, 1.04, -2.0],  # 0.04 apart: one step of 0.1 rounds them level
            [1.00, 1.30, -2.0],  # three steps apart: kept
            [0.20, 0.00, 0.16],
        ]
    )  # 0.04 apart again, the top one first: kept
    found = verify.output_floor(logits, scale=0.1, zero_point=0)
    assert found["top1_agreement"] == pytest.approx(2 / 3)  # row 0 ties, argmax takes class 0
    assert found["within_one_step"] == 2
