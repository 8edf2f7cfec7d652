/*
 * Stop words: the function words of a language (articles, prepositions,
 * pronouns, conjunctions, auxiliary verbs) that carry little meaning on their
 * own. The analyzer flags them with CS_TOK_STOP but still gives them a
 * position, so the index can leave them out of ranking while phrase distances
 * stay true to the text.
 *
 * The lists are written for this project. They hold lowercased but NOT
 * diacritic-folded forms, because accents separate function words from
 * content words in Spanish ("él" is a pronoun, "el" an article; "más" is a
 * stop word while the folded "mas" would also be one). Nouns that are also
 * auxiliary forms and matter in our parliamentary corpus ("estado": the
 * State, "vía": the procedure) are deliberately left out. A few spoken
 * fillers ("eh", "mmm") are included because the corpus is transcribed
 * speech. Each list is kept in byte order (LC_ALL=C sort), which keeps it
 * easy to review and diff; tests/test_analyzer.c checks the order.
 */
#include "stopwords.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static const char *const es_words[] = {
    "a",           "acá",        "adonde",      "adónde",       "ahí",       "al",
    "algo",        "alguien",    "alguna",      "algunas",      "alguno",    "algunos",
    "algún",       "allá",       "allí",        "ante",         "aquel",     "aquella",
    "aquellas",    "aquello",    "aquellos",    "aquél",        "aquélla",   "aquéllas",
    "aquéllos",    "aquí",       "así",         "aun",          "aunque",    "aún",
    "bajo",        "cada",       "como",        "con",          "conmigo",   "conque",
    "consigo",     "contigo",    "contra",      "cual",         "cuales",    "cuando",
    "cuanta",      "cuantas",    "cuanto",      "cuantos",      "cuya",      "cuyas",
    "cuyo",        "cuyos",      "cuál",        "cuáles",       "cuándo",    "cuánta",
    "cuántas",     "cuánto",     "cuántos",     "cómo",         "de",        "del",
    "demás",       "desde",      "donde",       "durante",      "dónde",     "e",
    "eh",          "ehm",        "el",          "ella",         "ellas",     "ello",
    "ellos",       "en",         "entonces",    "entre",        "era",       "erais",
    "eran",        "eras",       "eres",        "es",           "esa",       "esas",
    "ese",         "eso",        "esos",        "esta",         "estaba",    "estabais",
    "estaban",     "estabas",    "estamos",     "estando",      "estar",     "estaremos",
    "estará",      "estarán",    "estarás",     "estaré",       "estaréis",  "estaría",
    "estaríais",   "estaríamos", "estarían",    "estarías",     "estas",     "este",
    "estemos",     "esto",       "estos",       "estoy",        "estuve",    "estuviera",
    "estuvierais", "estuvieran", "estuvieras",  "estuvieron",   "estuviese", "estuviesen",
    "estuvimos",   "estuviste",  "estuvisteis", "estuviéramos", "estuvo",    "está",
    "estábamos",   "estáis",     "están",       "estás",        "esté",      "estéis",
    "estén",       "estés",      "fue",         "fuera",        "fuerais",   "fueran",
    "fueras",      "fueron",     "fuese",       "fueseis",      "fuesen",    "fueses",
    "fui",         "fuimos",     "fuiste",      "fuisteis",     "fuéramos",  "fuésemos",
    "ha",          "haber",      "habido",      "habiendo",     "habremos",  "habrá",
    "habrán",      "habrás",     "habré",       "habréis",      "habría",    "habríais",
    "habríamos",   "habrían",    "habrías",     "habéis",       "había",     "habíais",
    "habíamos",    "habían",     "habías",      "hacia",        "han",       "has",
    "hasta",       "hay",        "haya",        "hayamos",      "hayan",     "hayas",
    "hayáis",      "he",         "hemos",       "hmm",          "hube",      "hubiera",
    "hubierais",   "hubieran",   "hubieras",    "hubieron",     "hubiese",   "hubiesen",
    "hubimos",     "hubiste",    "hubisteis",   "hubiéramos",   "hubo",      "la",
    "las",         "le",         "les",         "lo",           "los",       "luego",
    "mas",         "me",         "mediante",    "menos",        "mi",        "mientras",
    "mis",         "misma",      "mismas",      "mismo",        "mismos",    "mm",
    "mmm",         "mucha",      "muchas",      "mucho",        "muchos",    "muy",
    "más",         "mí",         "mía",         "mías",         "mío",       "míos",
    "nada",        "nadie",      "ni",          "ninguna",      "ninguno",   "ningún",
    "no",          "nos",        "nosotras",    "nosotros",     "nuestra",   "nuestras",
    "nuestro",     "nuestros",   "o",           "os",           "otra",      "otras",
    "otro",        "otros",      "para",        "pero",         "poca",      "pocas",
    "poco",        "pocos",      "por",         "porque",       "pues",      "que",
    "quien",       "quienes",    "quién",       "quiénes",      "qué",       "se",
    "sea",         "seamos",     "sean",        "seas",         "según",     "ser",
    "seremos",     "será",       "serán",       "serás",        "seré",      "seréis",
    "sería",       "seríais",    "seríamos",    "serían",       "serías",    "seáis",
    "si",          "sido",       "siendo",      "sin",          "sino",      "sobre",
    "sois",        "solo",       "somos",       "son",          "soy",       "su",
    "sus",         "suya",       "suyas",       "suyo",         "suyos",     "sí",
    "sólo",        "tal",        "tales",       "también",      "tampoco",   "tanta",
    "tantas",      "tanto",      "tantos",      "te",           "tendremos", "tendrá",
    "tendrán",     "tendrás",    "tendré",      "tendréis",     "tendría",   "tendríais",
    "tendríamos",  "tendrían",   "tendrías",    "tenemos",      "tener",     "tenga",
    "tengamos",    "tengan",     "tengas",      "tengo",        "tengáis",   "tenido",
    "teniendo",    "tenéis",     "tenía",       "teníais",      "teníamos",  "tenían",
    "tenías",      "ti",         "tiene",       "tienen",       "tienes",    "toda",
    "todas",       "todavía",    "todo",        "todos",        "tras",      "tu",
    "tus",         "tuve",       "tuviera",     "tuvierais",    "tuvieran",  "tuvieras",
    "tuvieron",    "tuviese",    "tuviesen",    "tuvimos",      "tuviste",   "tuvisteis",
    "tuviéramos",  "tuvo",       "tuya",        "tuyas",        "tuyo",      "tuyos",
    "tú",          "u",          "un",          "una",          "unas",      "unos",
    "usted",       "ustedes",    "varias",      "varios",       "versus",    "vosotras",
    "vosotros",    "vuestra",    "vuestras",    "vuestro",      "vuestros",  "y",
    "ya",          "yo",         "él",          "éramos",       "ésa",       "ésas",
    "ése",         "ésos",       "ésta",        "éstas",        "éste",      "éstos",
};

static const char *const en_words[] = {
    "a",         "about",      "above",   "across",   "after",    "again",      "against",
    "all",       "along",      "also",    "although", "am",       "among",      "an",
    "and",       "any",        "are",     "aren't",   "around",   "as",         "at",
    "be",        "because",    "been",    "before",   "behind",   "being",      "below",
    "beneath",   "beside",     "between", "beyond",   "both",     "but",        "by",
    "can",       "can't",      "cannot",  "could",    "couldn't", "did",        "didn't",
    "do",        "does",       "doesn't", "doing",    "don't",    "down",       "during",
    "each",      "er",         "erm",     "except",   "few",      "for",        "from",
    "further",   "had",        "hadn't",  "has",      "hasn't",   "have",       "haven't",
    "having",    "he",         "he'd",    "he'll",    "he's",     "her",        "here",
    "here's",    "hers",       "herself", "him",      "himself",  "his",        "hmm",
    "how",       "i",          "i'd",     "i'll",     "i'm",      "i've",       "if",
    "in",        "inside",     "into",    "is",       "isn't",    "it",         "it's",
    "its",       "itself",     "just",    "let's",    "me",       "might",      "mine",
    "mm",        "more",       "most",    "must",     "mustn't",  "my",         "myself",
    "near",      "no",         "nor",     "not",      "of",       "off",        "on",
    "once",      "only",       "onto",    "or",       "other",    "our",        "ours",
    "ourselves", "out",        "outside", "over",     "own",      "past",       "same",
    "shall",     "shan't",     "she",     "she'd",    "she'll",   "she's",      "should",
    "shouldn't", "since",      "so",      "some",     "such",     "than",       "that",
    "that's",    "the",        "their",   "theirs",   "them",     "themselves", "then",
    "there",     "there's",    "these",   "they",     "they'd",   "they'll",    "they're",
    "they've",   "this",       "those",   "though",   "through",  "throughout", "till",
    "to",        "too",        "toward",  "towards",  "uh",       "um",         "under",
    "until",     "up",         "upon",    "us",       "very",     "via",        "was",
    "wasn't",    "we",         "we'd",    "we'll",    "we're",    "we've",      "were",
    "weren't",   "what",       "what's",  "when",     "where",    "whether",    "which",
    "while",     "who",        "who's",   "whom",     "whose",    "why",        "will",
    "with",      "within",     "without", "won't",    "would",    "wouldn't",   "yet",
    "you",       "you'd",      "you'll",  "you're",   "you've",   "your",       "yours",
    "yourself",  "yourselves",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Lookups go through one open-addressing hash table per list, built once
 * on first use: a binary search over ~400 entries cost a tenth of the
 * analyzer's time in branch misses. Slots hold index+1 into the list, 0 is
 * empty; the table is at least 4x the list so probes stay short. */
#define TABLE_BITS 11
#define TABLE_SIZE (1u << TABLE_BITS)

typedef struct stop_table {
  const char *const *words;
  size_t n;
  uint16_t slot[TABLE_SIZE];
  uint8_t len[TABLE_SIZE]; /* strlen of the slot's word */
} stop_table;

static stop_table es_table = {es_words, COUNT(es_words), {0}, {0}};
static stop_table en_table = {en_words, COUNT(en_words), {0}, {0}};
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static uint32_t hash(const char *w, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)w[i]) * 16777619u;
  return h ^ (h >> 15);
}

static void table_fill(stop_table *t) {
  for (size_t i = 0; i < t->n; i++) {
    uint32_t h = hash(t->words[i], strlen(t->words[i])) & (TABLE_SIZE - 1);
    while (t->slot[h])
      h = (h + 1) & (TABLE_SIZE - 1);
    t->slot[h] = (uint16_t)(i + 1);
    t->len[h] = (uint8_t)strlen(t->words[i]);
  }
}

static void tables_init(void) {
  table_fill(&es_table);
  table_fill(&en_table);
}

static int lookup(const stop_table *t, const char *w, size_t len) {
  for (uint32_t h = hash(w, len) & (TABLE_SIZE - 1); t->slot[h]; h = (h + 1) & (TABLE_SIZE - 1)) {
    if (t->len[h] == len && memcmp(t->words[t->slot[h] - 1], w, len) == 0) return 1;
  }
  return 0;
}

/* Matches the primary subtag of a language tag ("es", "es-ES", "ES_mx")
 * against a two-letter code. */
static int lang_is(const char *lang, const char *code) {
  char a = lang[0], b = a ? lang[1] : 0;
  if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
  if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
  return a == code[0] && b == code[1] && (lang[2] == 0 || lang[2] == '-' || lang[2] == '_');
}

int cs_stopword(const char *lang, const char *lower_word, size_t len) {
  if (len == 0 || len > CS_STOPWORD_MAX_LEN || !lower_word) return 0;
  const stop_table *t;
  if (!lang || !*lang || lang_is(lang, "es"))
    t = &es_table;
  else if (lang_is(lang, "en"))
    t = &en_table;
  else
    return 0;
  pthread_once(&tables_once, tables_init);
  return lookup(t, lower_word, len);
}

const char *const *cs_stopword_list(const char *lang, size_t *n) {
  if (!lang || !*lang || lang_is(lang, "es")) {
    *n = COUNT(es_words);
    return es_words;
  }
  if (lang_is(lang, "en")) {
    *n = COUNT(en_words);
    return en_words;
  }
  *n = 0;
  return NULL;
}
