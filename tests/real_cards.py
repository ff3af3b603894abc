"""Model cards shaped like real ones on the Hub, for the tests of card adoption.

``SENTENCE_TRANSFORMERS_CARD`` has the front matter and the kind of body a sentence-transformers
model's card has (license, language, library_name, tags, 21 datasets, pipeline_tag; headings, code
blocks, a table, a horizontal rule, an HTML comment); ``GGUF_CARD`` is a llama.cpp quantisation's
(base_model, quantized_by, a table of the quantisation files). The texts are written for these
tests.
"""

from __future__ import annotations

import re

SENTENCE_TRANSFORMERS_DATASETS = (
    "s2orc",
    "flax-sentence-embeddings/stackexchange_xml",
    "ms_marco",
    "gooaq",
    "yahoo_answers_topics",
    "code_search_net",
    "search_qa",
    "eli5",
    "snli",
    "multi_nli",
    "wikihow",
    "natural_questions",
    "trivia_qa",
    "embedding-data/sentence-compression",
    "embedding-data/flickr30k-captions",
    "embedding-data/altlex",
    "embedding-data/simple-wiki",
    "embedding-data/QQP",
    "embedding-data/SPECTER",
    "embedding-data/PAQ_pairs",
    "embedding-data/WikiAnswers",
)

SENTENCE_TRANSFORMERS_CARD = (
    """---
language: en
license: apache-2.0
library_name: sentence-transformers
tags:
- sentence-transformers
- feature-extraction
- sentence-similarity
- transformers
datasets:
"""
    + "".join(f"- {name}\n" for name in SENTENCE_TRANSFORMERS_DATASETS)
    + """pipeline_tag: sentence-similarity
---

# tiny-sentence-encoder

This is a [sentence-transformers](https://www.SBERT.net) model: it maps sentences & paragraphs to a
8 dimensional dense vector space and can be used for tasks like clustering or semantic search.

## Usage (Sentence-Transformers)

Using this model becomes easy when you have
[sentence-transformers](https://www.SBERT.net) installed:

```
pip install -U sentence-transformers
```

Then you can use the model like this:

```python
from sentence_transformers import SentenceTransformer
sentences = ["This is an example sentence", "Each sentence is converted"]

model = SentenceTransformer("your-username/tiny-sentence-encoder")
embeddings = model.encode(sentences)
print(embeddings)
```

## Usage (HuggingFace Transformers)

Without sentence-transformers, pass your input through the transformer model, then apply the
right pooling operation on top of the contextualized word embeddings: mean pooling, taking the
attention mask into account for correct averaging.

<!-- the pooling must match 1_Pooling/config.json -->

------

## Background

The project aims to train sentence embedding models on very large sentence level datasets using a
self-supervised contrastive learning objective.

## Intended uses

Our model is intended to be used as a sentence and short paragraph encoder. Given an input text,
it outputs a vector which captures the semantic information. Input text longer than 256 word
pieces is truncated by default.

## Training procedure

### Fine-tuning

We fine-tune the model using a contrastive objective: we compute the cosine similarity from each
possible sentence pair in the batch, then apply the cross entropy loss by comparing with true
pairs.

#### Training data

| Dataset | Paper | Number of training tuples |
|--------------------------------------------------------|:----------------:|:--------------------------:|
| [Reddit comments (2015-2018)](https://github.com/PolyAI-LDN/conversational-datasets) | [paper][reddit] | 726,484,430 |
| [S2ORC](https://github.com/allenai/s2orc) Citation pairs (Abstracts) | [paper][s2orc] | 116,288,806 |
| [SNLI](https://nlp.stanford.edu/projects/snli/) and [MultiNLI](https://cims.nyu.edu/~sbowman/multinli/) | | 277,230 |
| **Total** | | **1,170,060,424** |

[reddit]: https://arxiv.org/abs/1904.06472
[s2orc]: https://aclanthology.org/2020.acl-main.447/
"""
)

GGUF_CARD = """---
quantized_by: bartowski
pipeline_tag: text-generation
license: llama3.2
base_model: meta-llama/Llama-3.2-1B-Instruct
language:
- en
- de
- fr
tags:
- facebook
- meta
- llama
- llama-3
---

## Llamacpp imatrix Quantizations of Llama-3.2-1B-Instruct

Using <a href="https://github.com/ggerganov/llama.cpp/">llama.cpp</a> for quantization.

Original model: https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct

## Prompt format

```
<|begin_of_text|><|start_header_id|>system<|end_header_id|>

{system_prompt}<|eot_id|><|start_header_id|>user<|end_header_id|>

{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>
```

## Download a file (not the whole branch) from below:

| Filename | Quant type | File Size | Split | Description |
| -------- | ---------- | --------- | ----- | ----------- |
| [tiny-Q8_0.gguf](https://huggingface.co/your-username/tiny-gguf/blob/main/tiny-Q8_0.gguf) | Q8_0 | 1.32GB | false | |

## Which file should I choose?

The first thing to figure out is how big a model you can run: aim for a quant with a file size
1-2GB smaller than your GPU's total VRAM.
"""


def paragraphs(card: str) -> list[str]:
    """The body's paragraphs (blocks between blank lines, outside code fences kept whole), each stripped."""
    body = card.split("\n---\n", 1)[1]
    blocks: list[str] = []
    current: list[str] = []
    fenced = False
    for line in body.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    return [block for block in blocks if not re.fullmatch(r"\s*", block)]
