"""Counterfactual swaps keep grammar and casing, and touch nothing but whole listed words."""

from __future__ import annotations

import pytest

from auditkit.audits.fairness.config import TemplateSpec
from auditkit.audits.fairness.probes import build_probe_set, probes_from_templates
from auditkit.audits.fairness.terms import TermSwapper, parse_terms, pronoun_role, transfer_case

GENDER = {
    "female": {
        "pronoun": ["she", "her", "hers", "herself"],
        "title": ["Ms", "Mrs"],
        "role": ["chairwoman"],
        "name": ["Maria", "Grace"],
    },
    "male": {
        "pronoun": ["he", "him", "his", "himself"],
        "title": ["Mr"],
        "role": ["chairman"],
        "name": ["Mark", "David"],
    },
}
REGION = {
    "europe": {"country": ["Finland", "Sweden"], "demonym": ["Finnish", "Swedish"]},
    "africa": {"country": ["Nigeria", "South Africa"], "demonym": ["Nigerian", "South African"]},
}


@pytest.fixture(scope="module")
def gender() -> TermSwapper:
    return TermSwapper(GENDER)


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        ("Maria said she expects profit to rise.", "male", "Mark said he expects profit to rise."),
        ("Maria's unit beat forecasts.", "male", "Mark's unit beat forecasts."),
        ("Maria’s unit beat forecasts.", "male", "Mark’s unit beat forecasts."),
        ("MARIA SAID SHE WOULD STAY.", "male", "MARK SAID HE WOULD STAY."),
        ("The board thanked her.", "male", "The board thanked him."),
        ("She raised her forecast.", "male", "He raised his forecast."),
        ("He told her that sales fell.", "female", "She told her that sales fell."),
        ("The board backed him and his plan.", "female", "The board backed her and her plan."),
        ("The final decision was his.", "female", "The final decision was hers."),
        ("The final decision was hers.", "male", "The final decision was his."),
        ("She blamed herself.", "male", "He blamed himself."),
        ("Mr. Mark Lee and his chairman left.", "female", "Ms. Maria Lee and her chairwoman left."),
        ("Mrs Grace Li, the chairwoman, resigned.", "male", "Mr David Li, the chairman, resigned."),
        ("Chairwoman Grace spoke.", "male", "Chairman David spoke."),
    ],
)
def test_swap_keeps_grammar_and_casing(gender, text, target, expected):
    assert gender.swap(text, target) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Marianne and the chairmanship review went well.",  # terms inside longer words
        "Shareholders approved the dividend.",  # 'he' inside 'Shareholders'
        "A grace period applies.",  # a name written lower-case is the common word
        "Sales in the theme parks rose.",  # 'he' inside 'the', 'theme'
        "Thisis hisX and sheer herbs.",
    ],
)
def test_no_term_leaves_text_untouched(gender, text):
    assert gender.find(text) == []
    assert gender.swap(text, "male") == text
    assert gender.swap(text, "female") == text


def test_swapping_to_own_group_is_identity(gender):
    text = "Maria said her team would meet Mr Mark on Friday."
    assert gender.swap(text, "female") == "Maria said her team would meet Ms Maria on Friday."
    assert gender.swap(gender.swap(text, "female"), "female") == gender.swap(text, "female")
    assert gender.groups_in(text) == ["female", "male"]


def test_kinds_and_multiword_terms():
    region = TermSwapper(REGION)
    assert region.swap("Finnish demand in Finland rose.", "africa") == (
        "Nigerian demand in Nigeria rose."
    )
    # the longest term wins, and positions line up within a kind
    assert region.swap("South African exports to Sweden fell.", "europe") == (
        "Swedish exports to Sweden fell."
    )
    assert region.swap("Sales in Sweden's south.", "africa") == "Sales in South Africa's south."
    assert region.swap("South  Africa's output", "europe") == "Sweden's output"


def test_transfer_case():
    assert transfer_case("MARIA", "Mark") == "MARK"
    assert transfer_case("Her", "his") == "His"
    assert transfer_case("maria", "Mark") == "mark"
    assert transfer_case("McX", "McKinsey") == "McKinsey"


def test_pronoun_roles():
    assert pronoun_role("her", " team rose") == "determiner"
    assert pronoun_role("her", " and the board") == "object"
    assert pronoun_role("her", ".") == "object"
    assert pronoun_role("his", ".") == "possessive"
    assert pronoun_role("his", " own plan") == "determiner"
    assert pronoun_role("him", " plan") == "object"


def test_a_term_in_two_groups_is_an_error():
    with pytest.raises(ValueError, match="both group"):
        TermSwapper({"a": {"term": ["Alex"]}, "b": {"term": ["alex"]}})


def test_parse_terms_sections_comments_and_errors():
    kinds = parse_terms("# header\nAnna  # a name\n[pronoun]\nshe\n\n[title]\nMs\n")
    assert kinds == {"term": ["Anna"], "pronoun": ["she"], "title": ["Ms"]}
    with pytest.raises(ValueError, match=r"f\.txt:2: 'anna' is already listed \(line 1\)"):
        parse_terms("Anna\nanna\n", where="f.txt")
    with pytest.raises(ValueError, match="bad section header"):
        parse_terms("[two words]\nx\n")


def test_probe_counts_from_test_data_and_templates(gender):
    texts = [
        "Maria said sales rose.",  # female
        "Mr Mark cut the outlook.",  # male
        "Profit fell.",  # no term
        "She and he agreed.",  # both
    ]
    labels = [2, 0, 0, 1]
    templates = [
        TemplateSpec(text="{name} raised the dividend.", label="positive"),
        TemplateSpec(text="{name} said she would stay.", label="neutral"),
    ]
    names = ["negative", "neutral", "positive"]
    ps = build_probe_set(
        "gender", gender, texts, labels, templates, names,
        use_templates="auto", min_probes=5, max_template_probes=100,
    )  # fmt: skip
    assert ps.n == 5
    assert [p.source for p in ps.probes] == ["test"] * 3 + ["template"] * 2
    assert [p.ref for p in ps.probes[:3]] == [0, 1, 3]
    assert ps.counts() == [["gender", "female", 3, 2, 2], ["gender", "male", 3, 2, 2]]
    assert ps.probes[3].texts == {
        "female": "Maria raised the dividend.",
        "male": "Mark raised the dividend.",
    }
    assert ps.probes[4].texts["male"] == "Mark said he would stay."
    assert ps.probes[4].label == 1
    # every template x every term position, deduplicated, when asked for more
    many = probes_from_templates("gender", gender, templates, names, 100)
    assert len(many) == 4
    never = build_probe_set(
        "gender", gender, texts, labels, templates, names,
        use_templates="never", min_probes=50, max_template_probes=100,
    )  # fmt: skip
    assert never.n == 3


def test_augmentation_set_swaps_train_rows_and_keeps_probes_held_out(gender):
    from auditkit.audits.fairness.mitigation import augmentation_set

    texts = ["Maria said sales rose.", "Mark cut the outlook.", "Profit fell.", "He left."]
    held_out = {"Mark said sales rose."}  # a probe variant: must not be trained on
    new, labels, info = augmentation_set(
        texts, [2, 0, 0, 1], {"gender": gender}, held_out, limit=10, seed=0
    )
    assert list(zip(new, labels, strict=True)) == [("Maria cut the outlook.", 0), ("She left.", 1)]
    assert info["excluded"] == 1
    capped, _, _ = augmentation_set(texts, [2, 0, 0, 1], {"gender": gender}, set(), limit=1, seed=0)
    assert len(capped) == 1
