"""Crawled pages through url, langid and pii end to end (issue 23 items 4-6): a WARC of real and real-looking
pages in, meta.url / meta.lang out, a blocked domain, a French page and personal data handled as configured."""

import gzip
import json

from data_pipeline.run import main
from tests.data_pipeline.conftest import ZH_DOCS
from tests.data_pipeline.web.warc_builder import real_pages, warc_record, write_warc

NAV = "<nav><a href='/'>首页</a> | <a href='/news'>新闻</a> | <a href='/about'>关于我们</a></nav>"
ZH_PAGE = ("<html><head><meta charset='gbk'><title>长江与围棋</title></head><body>" + NAV + "<article><h1>长江与围棋</h1>"
           + "".join(f"<p>{text}</p>" for text in ZH_DOCS)
           + "<p>记者张伟在采访中说，读者可以拨打 13812345678 或者写信到 zhangwei@example.com.cn 提供新的线索。</p>"
           + "</article><footer>版权所有 2024</footer></body></html>")
FR_PAGE = ("<html><head><meta charset='utf-8'></head><body><article><h1>La vallée</h1>"
           "<p>Le fleuve traverse lentement la vallée, et les agriculteurs qui vivent sur ses rives utilisent son "
           "eau depuis des siècles. Au printemps, la neige fond dans les montagnes et le fleuve monte.</p>"
           "<p>Aujourd'hui, un petit musée installé dans l'ancien moulin raconte l'histoire de la vallée et de ses "
           "habitants, de ses crues et de ses récoltes.</p></article></body></html>")


def test_web_pages_are_blocked_identified_and_scrubbed(tmp_path):
    pages = {url: html for html, url, _ in real_pages()}
    sports_url, bikes_url = sorted(pages, key=lambda url: "morebikes" in url)
    sports, bikes = pages[sports_url], pages[bikes_url]
    warc = write_warc(tmp_path / "crawl.warc.gz", [
        warc_record(sports_url, sports),
        warc_record(bikes_url, bikes),  # www.morebikes.co.uk: its domain is on the block list
        warc_record("https://news.example.cn/2024/05/changjiang.html", ZH_PAGE.encode("gbk"),
                    content_type="text/html"),  # charset only in the page's <meta>
        warc_record("https://www.journal.example.fr/vallee", FR_PAGE.encode("utf-8")),
    ], gz=True)
    domains = tmp_path / "domains"
    domains.write_text("# adult/domains, trimmed\nmorebikes.co.uk\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main([f"input.paths=[{warc}]", f"output.dir={out}", "executor.workers=1", "executor.progress=false",
                 f"filters.url.block_domains={domains}", "pii.enabled=true"]) == 0
    records = {r["meta"]["url"]: r for folder in ("kept", "rejected") for p in (out / folder).glob("*.gz")
               for line in gzip.open(p, "rt") for r in [json.loads(line)]}
    assert records[bikes_url]["reject_reason"] == "url:block_domains"
    assert records[bikes_url]["meta"]["url_block"] == "morebikes.co.uk"
    assert records[sports_url]["meta"]["lang"] == "en"
    french = records["https://www.journal.example.fr/vallee"]
    assert french["reject_reason"] == "langid:fr" and french["meta"]["lang_score"] > 0.9
    chinese = records["https://news.example.cn/2024/05/changjiang.html"]
    assert "reject_reason" not in chinese and chinese["meta"]["lang"] == "zh"
    assert "[PHONE]" in chinese["text"] and "[EMAIL]" in chinese["text"] and "13812345678" not in chinese["text"]
    assert chinese["meta"]["pii"] == {"email": 1, "cn_mobile": 1}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["url"]["rules"]["block_domains"]["docs"] == 1
    assert stats["stages"]["langid"]["rules"]["fr"]["docs"] == 1
    assert stats["pii"]["cn_mobile"] == {"docs": 1, "replaced": 1}
