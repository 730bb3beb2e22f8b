"""The testbed language's tables: its words, sentence rules and prompt templates.

Each word has one part of speech (``pos``), at most one topic and one sentiment: ``TOPIC_WORDS``
holds the topical nouns, places, intransitive verbs and adjectives, ``GENERIC_WORDS`` the words
every topic shares. ``RULES`` is the context-free sentence grammar over parts of speech and
``PROMPT_TEMPLATES`` the prompts by requested sentiment. ``language.Grammar`` samples from these
tables; ``oracle`` parses and scores with them.
"""

from __future__ import annotations

SENTIMENTS = ("positive", "negative", "neutral")
MIN_WORDS, MAX_WORDS = 16, 48  # response length range, in words
SENTENCE_END = "."  # the word that ends a sentence

# topic -> pos -> words. NOUN, PLACE and VI (intransitive verb) are neutral; the
# topic's adjectives are split by sentiment.
TOPIC_WORDS: dict[str, dict[str, str]] = {
    "food": dict(
        NOUN="bread soup pasta cheese salad pizza cake rice",
        PLACE="kitchen restaurant",
        VI="tastes smells cooks bakes",
        positive="delicious tasty fresh",
        negative="stale bland greasy",
        neutral="spicy salty",
    ),
    "weather": dict(
        NOUN="rain sun wind snow storm cloud fog breeze",
        PLACE="sky valley",
        VI="falls shines blows changes",
        positive="sunny mild bright",
        negative="cold stormy gloomy",
        neutral="cloudy windy",
    ),
    "sports": dict(
        NOUN="team match ball coach player goal race game",
        PLACE="stadium field",
        VI="wins scores runs plays",
        positive="strong fast skilled",
        negative="weak slow clumsy",
        neutral="athletic competitive",
    ),
    "music": dict(
        NOUN="song band guitar piano melody concert singer drum",
        PLACE="studio hall",
        VI="sounds sings rings echoes",
        positive="melodic catchy harmonious",
        negative="noisy harsh tuneless",
        neutral="loud acoustic",
    ),
    "travel": dict(
        NOUN="trip train hotel journey flight map ticket suitcase",
        PLACE="airport station",
        VI="departs arrives travels waits",
        positive="relaxing scenic comfortable",
        negative="delayed crowded exhausting",
        neutral="distant foreign",
    ),
    "animals": dict(
        NOUN="dog cat horse bird rabbit fox owl lion",
        PLACE="forest farm",
        VI="barks sleeps jumps hunts",
        positive="cute playful gentle",
        negative="fierce smelly aggressive",
        neutral="wild furry",
    ),
    "books": dict(
        NOUN="novel story author chapter poem plot character page",
        PLACE="library bookstore",
        VI="reads unfolds ends begins",
        positive="gripping clever inspiring",
        negative="tedious confusing predictable",
        neutral="long historical",
    ),
}

# pos -> sentiment -> words, shared by all topics.
GENERIC_WORDS: dict[str, dict[str, str]] = {
    "DET": {"neutral": "the this that my our your every each"},
    "ADJ": {
        "positive": "great wonderful lovely excellent pleasant nice good happy",
        "negative": "terrible awful boring poor dull horrible bad sad",
        "neutral": "big small old new usual simple",
    },
    "ADV": {
        "positive": "wonderfully beautifully nicely brilliantly",
        "negative": "badly poorly terribly sadly",
        "neutral": "today again slowly quickly",
    },
    "VT": {
        "positive": "love enjoy like admire",
        "negative": "hate dislike dread avoid",
        "neutral": "remember see want notice",
    },
    "INTENS": {"neutral": "very really quite so truly"},
    "COP": {"neutral": "is seems looks feels stays"},
    "PRON": {"neutral": "i we you they"},
    "PREP": {"neutral": "in at near inside outside"},
    "CONJ": {"neutral": "and but yet"},
    "COMMA": {"neutral": ","},
    "END": {"neutral": SENTENCE_END},
}

# Sentence grammar over parts of speech: nonterminal -> ((weight, expansion), ...).
# Symbols that are not keys are parts of speech. No rule is left-recursive.
RULES: dict[str, tuple[tuple[float, tuple[str, ...]], ...]] = {
    "S": (
        (0.55, ("CLAUSE", "END")),
        (0.20, ("PP", "COMMA", "CLAUSE", "END")),
        (0.25, ("CLAUSE", "COMMA", "CONJ", "CLAUSE", "END")),
    ),
    "CLAUSE": (
        (0.35, ("NP", "VI", "ADV")),
        (0.10, ("NP", "VI")),
        (0.30, ("NP", "COP", "AP")),
        (0.25, ("PRON", "VT", "NP")),
    ),
    "NP": ((0.4, ("DET", "NOUN")), (0.6, ("DET", "AP", "NOUN"))),
    "AP": ((0.7, ("ADJ",)), (0.3, ("INTENS", "ADJ"))),
    "PP": ((1.0, ("PREP", "DET", "PLACE")),),
}
START = "S"  # a response is one or more START sentences
CONTENT_POS = frozenset({"NOUN", "PLACE", "VI", "VT", "ADJ", "ADV"})
PROMPT_POS = "PROMPT"  # words that only occur in prompts

# Prompt templates by requested sentiment; "{topic}" is replaced by the topic's name.
PROMPT_TEMPLATES: dict[str | None, tuple[str, ...]] = {
    None: (
        "tell me about {topic} .",
        "describe {topic} .",
        "write something about {topic} .",
        "talk about {topic} .",
        "say something about {topic} .",
        "what do you think about {topic} ?",
        "please tell me about {topic} .",
        "please describe {topic} .",
        "write a few sentences about {topic} .",
    ),
    "positive": (
        "tell me about {topic} in a happy way .",
        "describe {topic} in a positive way .",
        "write something nice about {topic} .",
        "praise {topic} .",
        "say something good about {topic} .",
        "please praise {topic} .",
    ),
    "negative": (
        "tell me about {topic} in a sad way .",
        "describe {topic} in a negative way .",
        "write something mean about {topic} .",
        "complain about {topic} .",
        "say something bad about {topic} .",
        "please complain about {topic} .",
    ),
}
PROMPT_SENTIMENT_WEIGHTS = {None: 0.6, "positive": 0.2, "negative": 0.2}
