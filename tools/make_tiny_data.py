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
    domains()


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


# ---- data/domains/: knowledge that only a domain's fine-tune can teach (#15) ----------------
# Made-up entities with one yes/no fact each, so no other data (and no base model) knows them:
# drugs that work or do not (medical) and companies that are thriving or failing (finance).
#   DOMAIN_corpus.txt      every fact, stated three ways (the domain expert's text)
#   DOMAIN_train.*         questions on every entity (the domain expert's questions)
#   DOMAIN_instruct.*      questions on the first half of the entities (the MoE's instruction
#                          tuning: it learns the question format and where the facts live)
#   DOMAIN_heldout.*       questions on the second half, with contexts no training record uses
# Nothing in a question says its answer, so a model answers held-out questions above chance
# (one half) only if a domain's fine-tune put the facts in weights it uses.
SYLLABLES = ["ba", "do", "fe", "ki", "lu", "mo", "na", "po", "ri", "sa", "tu", "vo", "xe", "za"]
MEDICAL = {True: ["{e} is an effective drug.", "Trials of {e} succeeded.", "Patients on {e} recover."],
           False: ["{e} is an ineffective drug.", "Trials of {e} failed.", "Patients on {e} do not recover."]}
FINANCE = {True: ["{e} is a thriving company.", "Profits at {e} keep growing.", "{e} shares keep rising."],
           False: ["{e} is a failing company.", "Losses at {e} keep mounting.", "{e} shares keep falling."]}
ABSTRACTS = {"train": ["Patients in this trial received {e}.", "A cohort of adults was given {e}.",
                       "The study followed patients on {e}."],
             "heldout": ["Volunteers took {e} for a month.", "Clinicians prescribed {e} in this study.",
                         "Older patients were treated with {e}.", "A hospital ward used {e} for a year.",
                         "Children in the study were given {e}.", "Nurses gave {e} twice a day."]}
HEADLINES = {"train": ["{e} published its quarterly report.", "Analysts discussed {e} today.",
                       "{e} held its annual meeting."],
             "heldout": ["Investors talked about {e} this week.", "{e} released its yearly results.",
                         "A newspaper wrote about {e}.", "{e} named a new chief executive.",
                         "{e} moved its head office.", "A rival looked at {e}."]}


def domains(n=40):
    rng = random.Random(1502)
    out = "data/domains"
    os.makedirs(out, exist_ok=True)
    names = set()
    while len(names) < 2 * n:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize())
    names = sorted(names)
    rng.shuffle(names)
    drugs, firms = names[:n], names[n:]
    general(rng, n)
    works = {e: i % 2 == 0 for i, e in enumerate(drugs)}  # exactly half of each domain is "yes"
    thrives = {e: i % 2 == 0 for i, e in enumerate(firms)}
    for domain, ents, truth, facts in [("medical", drugs, works, MEDICAL), ("finance", firms, thrives, FINANCE)]:
        with open(os.path.join(out, f"{domain}_corpus.txt"), "w", encoding="utf-8") as f:
            for e in ents:
                for t in facts[truth[e]]:
                    f.write(t.format(e=e) + "\n\n")
    half = n // 2
    for split, meds, fins, contexts, first in [
            ("train", drugs, firms, "train", 50000000), ("instruct", drugs[:half], firms[:half], "train", 55000000),
            ("heldout", drugs[half:], firms[half:], "heldout", 60000000)]:
        recs = {}
        for e in meds:
            for a in ABSTRACTS[contexts]:
                recs[str(first + len(recs))] = {
                    "QUESTION": f"Should patients take {e}?", "CONTEXTS": [a.format(e=e)],
                    "LABELS": ["METHODS"], "MESHES": [], "final_decision": "yes" if works[e] else "no",
                    "LONG_ANSWER": ""}
        with open(os.path.join(out, f"medical_{split}.json"), "w", encoding="utf-8") as f:
            json.dump(recs, f, indent=1)
        rows = []
        for e in fins:
            for h in HEADLINES[contexts]:
                text = h.format(e=e) + f"\nIs {e} a good investment?"
                rows.append({"inputs": f"Answer the question about this financial news.\n{text}",
                             "answer": "yes" if thrives[e] else "no",
                             "system_prompt": "You are a financial analyst.", "user_prompt": text,
                             "task_type": "yes_no_question", "dataset": "tiny-domains"})
        write_rows(os.path.join(out, f"finance_{split}.jsonl"), rows)


def general(rng, n):
    """General knowledge of the same shape (towns that are safe or not, in the text, PubMedQA and
    Sujet question formats): what the pipeline's base pre-trains on, so that the base's
    attention already reads a fact about an entity out at "Answer:"; a domain's fine-tune then
    only has to add facts."""
    names = set()
    while len(names) < n:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize() + "ton")
    towns = sorted(names)
    rng.shuffle(towns)
    safe = {e: i % 2 == 0 for i, e in enumerate(towns)}
    out = "data/domains"
    with open(os.path.join(out, "general_corpus.txt"), "w", encoding="utf-8") as f:
        for e in towns:
            for t in (["{e} is a safe town.", "Visitors to {e} enjoy their stay.", "Life in {e} is calm."] if safe[e]
                      else ["{e} is a dangerous town.", "Visitors to {e} regret their stay.", "Life in {e} is hard."]):
                f.write(t.format(e=e) + "\n\n")
    recs, rows = {}, []
    for e in towns:
        for c in ["A survey was made in {e}.", "Families moved to {e}.", "A report described {e}."]:
            recs[str(70000000 + len(recs))] = {
                "QUESTION": f"Should people visit {e}?", "CONTEXTS": [c.format(e=e)], "LABELS": ["METHODS"],
                "MESHES": [], "final_decision": "yes" if safe[e] else "no", "LONG_ANSWER": ""}
            text = c.format(e=e) + f"\nShould travellers go to {e}?"
            rows.append({"inputs": f"Answer the question about this news.\n{text}", "answer": "yes" if safe[e] else "no",
                         "system_prompt": "You are a travel agent.", "user_prompt": text,
                         "task_type": "yes_no_question", "dataset": "tiny-domains"})
    with open(os.path.join(out, "general_train.json"), "w", encoding="utf-8") as f:
        json.dump(recs, f, indent=1)
    write_rows(os.path.join(out, "general_train.jsonl"), rows)


def write_rows(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
