#!/usr/bin/env python3
"""Generate the bundled tiny datasets in data/tiny/ (deterministic; standard library only).

Every file is in the real published format of its dataset, filled with a synthetic, learnable
task so that training visibly improves accuracy:
  * multiple choice ("Which of these is a <category>?"): exactly one option belongs to the
    category, the others are drawn from other categories; the answer letter is random.
  * arithmetic questions in the MMLU shape ("What is 3 + 4?") with nearby distractors.
Run from the repository root:  python3 tools/make_tiny_data.py
"""
import csv, json, os, random

OUT = "data/tiny"
CATEGORIES = {
    "animal": ["cat", "dog", "horse", "cow", "sheep", "goat", "lion", "tiger", "bear", "wolf"],
    "color": ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "brown"],
    "fruit": ["apple", "banana", "cherry", "grape", "lemon", "mango", "peach", "pear", "plum", "melon"],
    "organ": ["heart", "liver", "lung", "kidney", "brain", "stomach", "spleen", "skin", "bone", "colon"],
    "drug": ["aspirin", "insulin", "morphine", "penicillin", "heparin", "warfarin", "codeine", "atropine", "digoxin", "lithium"],
    "currency": ["dollar", "euro", "yen", "pound", "franc", "rupee", "peso", "krona", "won", "yuan"],
}
LETTERS = "ABCD"


def category_question(rng, cats):
    cat = rng.choice(cats)
    right = rng.choice(CATEGORIES[cat])
    others = [w for c in CATEGORIES if c != cat for w in CATEGORIES[c]]
    options = rng.sample(others, 3)
    answer = rng.randrange(4)
    options.insert(answer, right)
    return f"Which of these is a {cat}?", options, answer


def arithmetic_question(rng):
    a, b = rng.randrange(1, 10), rng.randrange(1, 10)
    right = a + b
    wrong = rng.sample([x for x in range(2, 19) if x != right], 3)
    answer = rng.randrange(4)
    options = [str(x) for x in wrong]
    options.insert(answer, str(right))
    return f"What is {a} + {b}?", options, answer


def write_jsonl(name, rows):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def pubmedqa_records(rng, n, first_id=30000000):
    data = {}
    for i in range(n):
        cat = rng.choice(list(CATEGORIES))
        word = rng.choice([w for c in CATEGORIES for w in CATEGORIES[c]])
        truth = word in CATEGORIES[cat]
        decision = "yes" if truth else rng.choice(["no", "maybe"])
        ctx = [f"The study looked at the {word}.",
               f"Results: the {word} {'is' if truth else 'is not'} a {cat}." if decision != "maybe"
               else f"Results: evidence on the {word} was mixed."]
        data[str(first_id + i)] = {"QUESTION": f"Is the {word} a {cat}?", "CONTEXTS": ctx,
                                   "LABELS": ["BACKGROUND", "RESULTS"], "MESHES": [],
                                   "final_decision": decision, "LONG_ANSWER": ctx[-1]}
    return data


def sujet_records(rng, n):
    rows = []
    for _ in range(n):
        good = rng.random() < 0.5
        cur = rng.choice(CATEGORIES["currency"])
        verb = rng.choice(["rose", "gained", "rallied"]) if good else rng.choice(["fell", "dropped", "slumped"])
        text = f"The {cur} {verb} against the market today."
        rows.append({"inputs": f"Classify the sentiment of this headline as positive or negative.\n{text}",
                     "answer": "positive" if good else "negative", "system_prompt": "You are a financial analyst.",
                     "user_prompt": text, "task_type": "sentiment_analysis", "dataset": "tiny-finance"})
    return rows


def main():
    rng = random.Random(20241123)
    os.makedirs(OUT, exist_ok=True)
    # MMLU, original CSV release: <subject>_<split>.csv, no header.
    for subject, maker in [("elementary_mathematics", lambda: arithmetic_question(rng)),
                           ("miscellaneous", lambda: category_question(rng, ["animal", "color", "fruit"]))]:
        for split, n in [("dev", 5), ("test", 150)]:
            with open(os.path.join(OUT, f"{subject}_{split}.csv"), "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                for _ in range(n):
                    q, opts, ans = maker()
                    w.writerow([q] + opts + [LETTERS[ans]])
    # MMLU, Hugging Face JSON lines export.
    rows = []
    for _ in range(200):
        q, opts, ans = category_question(rng, ["animal", "color", "fruit"])
        rows.append({"question": q, "subject": "miscellaneous", "choices": opts, "answer": ans})
    write_jsonl("mmlu_hf.jsonl", rows)
    # MedMCQA (Hugging Face copy: cop 0-based).
    rows = []
    for i in range(300):
        q, opts, ans = category_question(rng, ["organ", "drug"])
        rows.append({"id": f"tiny-{i:04d}", "question": q, "opa": opts[0], "opb": opts[1], "opc": opts[2],
                     "opd": opts[3], "cop": ans, "choice_type": "single", "exp": "",
                     "subject_name": "Pharmacology" if "drug" in q else "Anatomy", "topic_name": ""})
    write_jsonl("medmcqa.jsonl", rows)
    # PubMedQA ori_pqal.json: object keyed by PubMed id; the abstract states the answer.
    with open(os.path.join(OUT, "ori_pqal.json"), "w", encoding="utf-8") as f:
        json.dump(pubmedqa_records(rng, 200), f, indent=1)
    # Sujet-Finance-Instruct (sentiment-style classification).
    write_jsonl("sujet_finance.jsonl", sujet_records(rng, 200))
    # Alpaca and prompt-response instruction data.
    rows, pr = [], []
    for _ in range(100):
        cat = rng.choice(list(CATEGORIES))
        words = rng.sample(CATEGORIES[cat], 3)
        rows.append({"instruction": f"Name three examples of a {cat}.", "input": "", "output": ", ".join(words)})
        w = rng.choice(CATEGORIES[cat])
        pr.append({"prompt": f"What kind of thing is a {w}?", "response": f" A {w} is a {cat}."})
    write_jsonl("alpaca.jsonl", rows)
    write_jsonl("prompt_response.jsonl", pr)
    # Plain text for continued pre-training: documents separated by blank lines.
    with open(os.path.join(OUT, "corpus.txt"), "w", encoding="utf-8") as f:
        for cat, words in CATEGORIES.items():
            for _ in range(15):
                picked = rng.sample(words, 4)
                f.write(f"Some examples of a {cat} are the {picked[0]}, the {picked[1]} and the {picked[2]}.\n"
                        f"The {picked[3]} is also a {cat}.\n\n")

    heldout()


def heldout():
    """data/tiny_heldout/: questions never used for training (own RNG, so the files above do not
    change): MMLU CSVs (dev = few-shot pool, test = scored) and the same kind in `mcq` JSON lines."""
    rng = random.Random(77)
    out = "data/tiny_heldout"
    os.makedirs(out, exist_ok=True)
    for split, n in [("dev", 5), ("test", 200)]:
        with open(os.path.join(out, f"miscellaneous_{split}.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            for _ in range(n):
                q, options, answer = category_question(rng, ["animal", "color", "fruit", "organ", "drug", "currency"])
                w.writerow([q] + options + [LETTERS[answer]])
    with open(os.path.join(out, "mcq.jsonl"), "w", encoding="utf-8") as f:
        for _ in range(100):
            q, options, answer = category_question(rng, list(CATEGORIES))
            f.write(json.dumps({"question": q, "choices": options, "answer": answer}) + "\n")
    with open(os.path.join(out, "ori_pqal.json"), "w", encoding="utf-8") as f:
        json.dump(pubmedqa_records(rng, 150, first_id=40000000), f, indent=1)
    with open(os.path.join(out, "sujet_finance.jsonl"), "w", encoding="utf-8") as f:
        for r in sujet_records(rng, 150):
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
