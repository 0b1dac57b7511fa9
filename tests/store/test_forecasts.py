"""Fits and forecasts (emergence.store.forecasts): every one kept, the newest computed one current."""

from emergence.store import Store


def _doc(task: str, note: str) -> dict:
    return {
        "task": task,
        "metric": "acc",
        "provenance": {"data_hash": "sha256:" + "0" * 64, "options": {}},
        "note": note,
    }


def test_every_forecast_is_kept_and_the_newest_computed_one_is_current(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        st.add_forecast(_doc("t", "first"))
        st.add_forecast(_doc("t", "second"))
        assert st.import_forecasts([_doc("t", "imported")])[0][1] is True
        assert st.import_forecasts([_doc("t", "imported")])[0][1] is False  # the same document: kept once
        st.import_forecasts([_doc("u", "only imported")])
        everything = st.forecasts()
        current = st.forecasts(current=True).set_index("task")
    assert len(everything) == 4 and set(everything["origin"]) == {"computed", "imported"}
    assert current.loc["t", "document"]["note"] == "second"
    assert (
        current.loc["u", "document"]["note"] == "only imported" and current.loc["u", "origin"] == "imported"
    )


def test_fits_are_kept_side_by_side(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        for link in ("relu", "sigmoid"):
            st.add_fit("t", "acc", "emergence_law", "sha256:x", {"link": link}, options={"link": link})
        assert [r["link"] for r in st.fits()["result"]] == ["relu", "sigmoid"]
