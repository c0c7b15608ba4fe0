"""The counterfactual probe set: test sentences that mention an attribute, plus templates.

A probe is one sentence written once per group. Every variant keeps the probe's gold label:
swapping a name or a country does not change what the news says, which is why accuracy per
group is defined on probes. Templates (EEC-style, template x group terms) top the set up when
the test data mentions an attribute too rarely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from auditkit.audits.fairness.config import TemplateSpec, template_fields
from auditkit.audits.fairness.terms import TermSwapper


@dataclass
class Probe:
    attribute: str
    probe_id: int
    source: str  # "test" or "template"
    ref: int  # test row, or template index
    label: int
    texts: dict[str, str]  # group -> variant
    mentions: list[str] = field(default_factory=list)  # groups the original sentence names


@dataclass
class ProbeSet:
    attribute: str
    groups: list[str]
    probes: list[Probe]

    @property
    def n(self) -> int:
        return len(self.probes)

    def counts(self) -> list[list]:
        """Rows of the `probes` table: attribute, group, from_test_data, from_templates, ..."""
        n_test = sum(p.source == "test" for p in self.probes)
        n_tmpl = self.n - n_test
        rows = []
        for g in self.groups:
            mentioned = sum(p.source == "test" and g in p.mentions for p in self.probes)
            rows.append([self.attribute, g, n_test, n_tmpl, mentioned])
        return rows

    def all_texts(self) -> list[str]:
        return [p.texts[g] for p in self.probes for g in self.groups]


def probes_from_texts(
    attribute: str, swapper: TermSwapper, texts: Sequence[str], labels: Sequence[int]
) -> list[Probe]:
    """One probe per sentence that names a term of the attribute (and changes under a swap)."""
    probes = []
    for row, (text, label) in enumerate(zip(texts, labels, strict=True)):
        mentions = swapper.groups_in(text)
        if not mentions:
            continue
        variants = {g: swapper.swap(text, g) for g in swapper.group_names}
        if len(set(variants.values())) < 2:
            continue
        probes.append(Probe(attribute, len(probes), "test", row, int(label), variants, mentions))
    return probes


def probes_from_templates(
    attribute: str,
    swapper: TermSwapper,
    templates: Sequence[TemplateSpec],
    label_names: Sequence[str],
    limit: int,
    *,
    start_id: int = 0,
    exclude: set[str] | None = None,
) -> list[Probe]:
    """Up to `limit` probes: each template filled with each group's i-th term, i = 0, 1, ...

    Templates are interleaved (template 0 with term 0, template 1 with term 0, ...) so a small
    limit still covers every template. A literal term in a template (a pronoun, say) is swapped
    too, so "{name} said she ..." stays consistent.
    """
    exclude = exclude or set()
    groups = swapper.group_names
    fields = [template_fields(t.text) for t in templates]
    depth = max((len(swapper.groups[g][k]) for f in fields for k in f for g in groups), default=1)
    probes: list[Probe] = []
    seen: set[tuple[str, ...]] = set()
    for i in range(depth):
        for t_index, (tmpl, kinds) in enumerate(zip(templates, fields, strict=True)):
            if len(probes) >= limit:
                return probes
            if not kinds and i > 0:
                continue  # a template without placeholders yields one probe
            variants = {}
            for g in groups:
                filled = tmpl.text.format(
                    **{k: swapper.groups[g][k][i % len(swapper.groups[g][k])] for k in kinds}
                )
                variants[g] = swapper.swap(filled, g)
            key = tuple(variants[g] for g in groups)
            if key in seen or len(set(key)) < 2 or exclude.intersection(key):
                continue
            seen.add(key)
            label = list(label_names).index(tmpl.label)
            probes.append(
                Probe(attribute, start_id + len(probes), "template", t_index, label, variants)
            )
    return probes


def build_probe_set(
    attribute: str,
    swapper: TermSwapper,
    texts: Sequence[str],
    labels: Sequence[int],
    templates: Sequence[TemplateSpec],
    label_names: Sequence[str],
    *,
    use_templates: str,
    min_probes: int,
    max_template_probes: int,
) -> ProbeSet:
    """Test-sentence probes, topped up with template probes as `use_templates` says."""
    probes = probes_from_texts(attribute, swapper, texts, labels)
    if use_templates == "always":
        want = max_template_probes
    elif use_templates == "auto":
        want = min(max(0, min_probes - len(probes)), max_template_probes)
    else:
        want = 0
    if want and templates:
        probes += probes_from_templates(
            attribute,
            swapper,
            templates,
            label_names,
            want,
            start_id=len(probes),
            exclude=set(texts),  # a template that equals a test sentence adds nothing
        )
    return ProbeSet(attribute, swapper.group_names, probes)
