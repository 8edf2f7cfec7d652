/*
 * The Q&A expansion dictionaries (query/thesaurus.c, query/lemmas.c): a
 * small MyThes file in ISO8859-1 read back as UTF-8, its annotations and
 * antonyms dropped, synonyms listed under several meanings of a word first
 * and with their share of its meanings (ambiguous words weigh less),
 * multi-word headwords skipped, clear messages for an absent or foreign
 * file; and Debian's hunspell-es giving the lemmas of irregular forms
 * Snowball stems apart.
 */
#include "check.h"
#include "lemmas.h"
#include "thesaurus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CS_CHECK_COUNTERS;

static const char dat[] = "ISO8859-1\n"
                          "casa|2\n"
                          "-|vivienda|hogar (fig.)|morada\n"
                          "(m.)|familia|hogar|linaje\n"
                          "de buenas a primeras|1\n"
                          "-|s\xfa"
                          "bitamente\n"
                          "fr\xedo|1\n"
                          "-|helado|calor (ant\xf3nimo)|g\xe9lido\n"
                          "llevar|1\n"
                          "-|llevar a cabo|portar\n";

static int has(const cs__thes_syn *s, size_t n, const char *w, double share) {
  for (size_t i = 0; i < n; i++) {
    if (s[i].len == strlen(w) && !memcmp(s[i].text, w, s[i].len))
      return s[i].share > share - 1e-9 && s[i].share < share + 1e-9;
  }
  return 0;
}

static void t_thesaurus(const char *dir) {
  char path[512], msg[256] = "";
  snprintf(path, sizeof path, "%s/th.dat", dir);
  FILE *f = fopen(path, "wb");
  fwrite(dat, 1, sizeof dat - 1, f);
  fclose(f);
  cs__thesaurus *t = cs__thesaurus_load(path, msg, sizeof msg);
  CHECK(t != NULL, "the thesaurus loads (%s)", msg);
  if (!t) return;
  CHECK(cs__thesaurus_size(t) == 3, "3 single-word headwords (got %zu)", cs__thesaurus_size(t));
  cs__thes_syn s[16];
  size_t n = cs__thesaurus_lookup(t, "casa", 4, s, 16);
  CHECK(n == 5, "casa: 5 distinct synonyms (got %zu)", n);
  CHECK(n && s[0].len == 5 && !memcmp(s[0].text, "hogar", 5) && s[0].share == 1.0,
        "casa: hogar, listed under both meanings (once annotated), comes first with share 1");
  CHECK(has(s, n, "vivienda", 0.5) && has(s, n, "linaje", 0.5),
        "casa: synonyms of one meaning of two weigh half");
  n = cs__thesaurus_lookup(t, "frio", 4, s, 16);
  CHECK(n == 2 && has(s, n, "helado", 1.0) && has(s, n, "g\xc3\xa9lido", 1.0),
        "frío (looked up folded): helado and gélido in UTF-8, the antonym dropped (got %zu)", n);
  n = cs__thesaurus_lookup(t, "llevar", 6, s, 16);
  CHECK(n == 2 && has(s, n, "llevar a cabo", 1.0), "multi-word synonyms are returned as written");
  CHECK(cs__thesaurus_lookup(t, "de buenas a primeras", 20, s, 16) == 0 &&
            cs__thesaurus_lookup(t, "perro", 5, s, 16) == 0,
        "multi-word headwords and unknown words have no synonyms");
  CHECK(cs__thesaurus_lookup(t, "casa", 4, s, 2) == 2, "at most cap synonyms");
  cs__thesaurus_free(t);

  CHECK(cs__thesaurus_load("/nonexistent/th.dat", msg, sizeof msg) == NULL &&
            strstr(msg, "cannot open /nonexistent/th.dat"),
        "an absent file: NULL and a message naming it (%s)", msg);
  f = fopen(path, "wb");
  fputs("<html>not a thesaurus</html>\n", f);
  fclose(f);
  CHECK(cs__thesaurus_load(path, msg, sizeof msg) == NULL && strstr(msg, "not a MyThes"),
        "a foreign file is refused (%s)", msg);
  unlink(path);
}

static int has_lemma(cs__lemmas *l, const char *w, const char *lemma) {
  char out[CS__LEMMA_MAX][CS__LEMMA_LEN];
  size_t n = cs__lemmas_of(l, w, strlen(w), out);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(out[i], lemma)) return 1;
  return 0;
}

static void t_lemmas(void) {
  char msg[256] = "";
  cs__lemmas *l = cs__lemmas_open("/usr/share/hunspell/es_ES", msg, sizeof msg);
  CHECK(l != NULL, "hunspell-es loads (scripts/setup.sh installs it): %s", msg);
  if (l) {
    CHECK(has_lemma(l, "puso", "poner"), "puso -> poner");
    CHECK(has_lemma(l, "muri\xc3\xb3", "morir"), "murió -> morir");
    CHECK(has_lemma(l, "hicieron", "hacer"), "hicieron -> hacer");
    char out[CS__LEMMA_MAX][CS__LEMMA_LEN];
    CHECK(cs__lemmas_of(l, "vivienda", 8, out) == 0, "a lemma is never the word itself");
    CHECK(cs__lemmas_of(l, "zzqxw", 5, out) == 0, "an unknown word has no lemma");
    cs__lemmas_close(l);
  }
  CHECK(cs__lemmas_open("/nonexistent/es_ES", msg, sizeof msg) == NULL &&
            strstr(msg, "/nonexistent/es_ES.aff"),
        "an absent dictionary: NULL and a message naming it (%s)", msg);
}

int main(void) {
  char dir[] = "/tmp/cs-thesaurus-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  t_thesaurus(dir);
  t_lemmas();
  rmdir(dir);
  return th_check_done();
}
