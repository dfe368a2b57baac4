"""Each stage reads an answer it is handed (parsed, a dict, or raw text such as a downloaded
batch answer): no model call, no database."""

import json

from segmentation.pipeline import consolidate, extract, refine
from segmentation.pipeline.asking import Collected


def test_extract_reads_a_raw_text_answer_and_keeps_the_more_confident_duplicate():
    text = json.dumps({
        "segments": [{"name": "Rotary  dimmers", "definition": "Knob."}, {"name": "Smart dimmers", "definition": "WiFi."}],
        "assignments": [
            {"product_id": "P_1", "segment": "rotary dimmers", "confidence": 0.4},
            {"product_id": "P_1", "segment": "Smart dimmers", "confidence": 0.9},
            {"product_id": "P_2", "segment": "Unnamed segment", "confidence": 1},
            {"product_id": "P_9", "segment": "Smart dimmers", "confidence": 5},
        ],
    })
    got = extract.read_answer(text, labels=["P_1", "P_2"])
    assert got.assigned == {"P_1": ["Smart dimmers", 0.9]}
    assert got.duplicates == 1 and got.unknown == ["P_9"]
    assert set(got.groups) == {"rotary dimmers", "smart dimmers"}


def test_extract_salvages_a_cut_off_answer_and_folds_a_second_round_into_the_first():
    first = extract.read_answer('{"segments": [{"name": "Rotary", "definition": "Knob."}], "assignments": '
                                '[{"product_id": "P_1", "segment": "Rotary", "confidence": 0.8}, {"product_id": "P_2", "seg',
                                labels=["P_1", "P_2"])
    assert first.assigned == {"P_1": ["Rotary", 0.8]}
    again = extract.read_answer({"segments": [], "assignments": [{"product_id": "P_2", "segment": "Rotary", "confidence": "x"}]},
                                labels=["P_1", "P_2"], got=first)
    assert again is first and again.assigned["P_2"] == ["Rotary", None]  # a segment named in round one still counts


def test_consolidate_maps_input_labels_and_an_unplaced_segment_keeps_its_name():
    inputs = consolidate.merge_inputs([[{"name": "Rotary", "definition": "a"}], [{"name": "rotary", "definition": "b"},
                                                                                {"name": "Slide", "definition": "c"}]])
    assert [s["name"] for s in inputs] == ["Rotary", "Slide"]
    got = consolidate.read_answer('{"segments": [{"name": "Manual dimmers", "definition": "x", "merged_ids": ["T_1", "T_7"]}]}',
                                  labels=["T_1", "T_2"])
    assert got.assigned == {"T_1": "Manual dimmers"} and got.unknown == ["T_7"]
    result = consolidate.call_result([[inputs[0]], [inputs[0], inputs[1]]], inputs, got)
    assert result["maps"] == [{"rotary": "Manual dimmers"}, {"rotary": "Manual dimmers", "slide": "Slide"}]
    assert [s["name"] for s in result["segments"]] == ["Manual dimmers", "Slide"]


def test_refine_reads_segment_ids_and_records_unknown_ones():
    got = refine.read_answer({"assignments": [{"product_id": "P_1", "segment_id": "S_2"},
                                              {"product_id": "P_2", "segment_id": "S_99"}]},
                             labels=["P_1", "P_2"], taxon_of_label={"S_1": 10, "S_2": 20})
    assert got.assigned == {"P_1": 20} and got.unknown == ["S_99"]


def test_a_non_json_answer_places_nothing():
    for read, extra in [(extract.read_answer, {}), (consolidate.read_answer, {}),
                        (refine.read_answer, {"taxon_of_label": {"S_1": 1}})]:
        got = read("I cannot help with that.", labels=["P_1"], **extra)
        assert isinstance(got, Collected) and got.assigned == {}
