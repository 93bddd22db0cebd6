"""Hostile records through the url, langid and pii stages (issue 23): never a crash, every record out once, in
order, its text still a string; the url stage reads any JSON value where a URL should be."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from data_pipeline.filters.url import UrlFilter, UrlFilterConfig, host_of
from data_pipeline.langid import LangIdConfig, LangIdStage
from data_pipeline.pii import PLACEHOLDERS, PiiConfig, PiiStage, replace_pii
from data_pipeline.stage import ShardInfo
from tests.fuzz.hostile_input import NASTY_CHARACTERS, any_text, document_text, json_value

SHARD = ShardInfo(0, 1, "fuzz")
url_text = st.one_of(any_text, st.builds(
    lambda scheme, host, rest: f"{scheme}{host}{rest}",
    st.sampled_from(["http://", "https://", "//", "", "mailto:", "http://[", "HTTP://user:pw@"]),
    st.one_of(any_text, st.sampled_from(["spam.example", "WWW.SPAM.EXAMPLE.", "bücher.de", "[::1]", "10.0.0.7",
                                         "spam.example:99999", "xn--", "spam..example"])),
    any_text))
# Digits, separators and the characters the PII patterns key on, with hostile characters between them.
pii_text = st.text(st.one_of(st.sampled_from(list("0123456789+-.:@ ()（）Xx_abcfe") + NASTY_CHARACTERS),
                             st.characters()), max_size=200)
records = st.lists(st.fixed_dictionaries(
    {"id": any_text, "text": st.one_of(document_text, pii_text)},
    optional={"url": st.one_of(url_text, json_value), "meta": st.one_of(
        json_value, st.fixed_dictionaries({"url": st.one_of(url_text, json_value)}))}), max_size=6)


def _lists(tmp_path_factory) -> UrlFilterConfig:
    folder = tmp_path_factory.mktemp("lists")
    (folder / "domains").write_text("spam.example\nbücher.de\n10.0.0.7\n\ud800ok.example\n".encode(
        "utf-8", "surrogatepass").decode("utf-8", "replace"), encoding="utf-8")
    (folder / "words").write_text("/porn/\n中文\n", encoding="utf-8")
    (folder / "regex").write_text(r"(?i)\.exe$" + "\n", encoding="utf-8")
    return UrlFilterConfig(block_domains=str(folder / "domains"), block_substrings=str(folder / "words"),
                           block_regex=str(folder / "regex"))


@given(batch=records)
def test_url_langid_pii_stages_pass_every_record_once(tmp_path_factory, batch):
    stages = [UrlFilter(_lists(tmp_path_factory)), LangIdStage(LangIdConfig()),
              PiiStage(PiiConfig(public_ips_only=False))]
    stream = iter([dict(r) for r in batch])
    for stage in stages:
        stream = stage.run(stream, SHARD)
    out = list(stream)
    assert [r["id"] for r in out] == [r["id"] for r in batch]
    for record in out:
        assert isinstance(record["text"], str)
        meta = record.get("meta")
        assert isinstance(meta, dict) and isinstance(meta["lang"], str) and 0.0 <= meta["lang_score"] <= 1.0
        reason = record.get("reject_reason")
        assert reason is None or reason.split(":")[0] in ("url", "langid")


@given(url=st.one_of(url_text, any_text))
def test_host_of_never_raises(url):
    host = host_of(url)
    assert host is None or isinstance(host, str)


@given(text=st.one_of(pii_text, document_text))
def test_replacing_twice_changes_nothing_more(text):
    once, counts = replace_pii(text, public_ips_only=False)
    assert replace_pii(once, public_ips_only=False) == (once, {})  # placeholders are never matched again
    assert sum(counts.values()) == sum(once.count(p) for p in set(PLACEHOLDERS.values())) - sum(
        text.count(p) for p in set(PLACEHOLDERS.values()))
