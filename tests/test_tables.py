"""The tables' number style (companion.core.tables) and the figures' size rule (companion.core.plotting)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from companion.core.tables import agreeing_columns, fmt_agreement, fmt_number, readable


@pytest.mark.parametrize("x, text", [(0.0, "0"), (0.0123456, "0.01235"), (12.3456, "12.35"), (123456.0, "1.235e+05"),
                                     (-2.91e-9, "-2.910e-09"), (None, "—"), (1.0, "1")])
def test_at_most_four_significant_digits(x, text):
    assert fmt_number(x) == text


def test_columns_that_agree_to_many_digits_are_found_and_shown_in_scientific_notation():
    df = pd.DataFrame({"P closed": [1.5, 2.0000001], "P trained": [1.5000001, 2.0], "gap": [0.0123456, np.nan],
                       "zeros": [0.0, 0.0], "also zeros": [0.0, 0.0], "n": [10, 20000]})
    assert agreeing_columns(df) == ["P closed", "P trained"]        # columns of zeros agree with nothing
    html = readable(df).to_html()
    assert "1.500000e+00" in html and "2.000000e+00" in html         # the agreeing pair, to seven digits
    assert "0.01235" in html and "0.012346" not in html              # every other float to four
    assert "20,000" in html and "—" in html                          # integers grouped, NaN as a dash
    assert fmt_agreement(1.5000001) == "1.500000e+00"


def test_agreement_columns_named_by_hand_must_exist():
    df = pd.DataFrame({"a": [1.0], "b": [2.0]})
    assert "1.000000e+00" in readable(df, agreement=["a"]).to_html()
    with pytest.raises(ValueError, match="lacks"):
        readable(df, agreement=["c"])


def test_no_figure_wider_than_the_column_and_small_text_at_least_9_pt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from companion.core.plotting import MAX_WIDTH, MIN_FONT, figure_texts, subplots

    fig, axes = subplots(4, width=3.0, height=2.0)
    assert fig.get_size_inches()[0] == pytest.approx(MAX_WIDTH)      # 4 × 3 in narrowed to the column
    axes[0].plot([0, 1], [0, 1], label="a line")
    axes[0].legend()
    axes[0].set_title("t")
    assert min(t.get_fontsize() for t in figure_texts(fig)) >= MIN_FONT
    plt.close(fig)
    fig, _ = subplots(1, width=4.0, height=3.0)
    assert fig.get_size_inches()[0] == pytest.approx(4.0)            # a narrow figure keeps its size
    plt.close(fig)
