/*
 * cs-bench-synth: a deterministic generator of interview-like Spanish
 * transcripts, at any scale, as COPY files for the canonical stores.
 *
 *   cs-bench-synth --out DIR --conversations N [--seed S] [--id-base B]
 *
 * Writes DIR/{employees,patients,conversations,segments,events}.tsv in
 * PostgreSQL's COPY text format (bench/load_tsv.sh loads them). The same
 * arguments give the same bytes on every machine (own PRNG, no locale, no
 * floating point formatting in the output).
 *
 * Shape, after the portal's intake interviews (../shared/DESIGN.md):
 *  - one employee (interviewer) per 200 conversations (at least 5); one
 *    person (patient) per 3 conversations, owned by one employee; names from
 *    Spanish first names and surnames (accents, ñ);
 *  - a conversation is 12..90 turns, alternating interviewer and person,
 *    sometimes a third speaker (a relative, an interpreter: role 'other');
 *  - interviewer turns are short (questions: 4..25 words, a third of them
 *    one of the standard intake questions); the person's turns have
 *    log-normal lengths (median ~18 words, up to 300), spoken style: fillers
 *    ("eh", "bueno", "o sea"), numbers as digits or words, names of places
 *    and people;
 *  - words are drawn from two Zipf distributions: 90% from ~900 Spanish
 *    function, common and interview-domain words in rough frequency order
 *    (s = 1.0), 10% from a long tail of pseudo-words built from Spanish
 *    syllables (s = 1.05, --vocab ranks, default 200,000), so that the
 *    vocabulary keeps growing with the corpus (Heaps' law) as real speech
 *    does;
 *  - times at ~150 words/minute plus a pause of 0.3..2 s between turns;
 *  - events: patient.registered per person, conversation.recorded per
 *    conversation, and some conversation.played, question.asked and
 *    sheet.updated, by the owner, after the conversation.
 * Ids start at --id-base + 1 (default 0), for every table, so that several
 * generated sets can live in one database.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ PRNG */

static uint64_t rng_state;

static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double unif(void) {
  return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}
static uint32_t below(uint32_t n) {
  return (uint32_t)(unif() * n);
}
static double normal(void) {
  double u = unif(), v = unif();
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ------------------------------------------------------------ vocabulary */

/* Roughly in frequency order for spoken Spanish in intake interviews. */
static const char *const common_words =
    "de que no la el y a en es lo un se me por pues una con los para eh bueno "
    "mi las si ya del al pero yo como porque sí más le todo o muy tengo está "
    "hay cuando eso esto ahora también bien ahí entonces allí nada hijo casa "
    "trabajo estoy tiene vale claro sé ella él algo mes años dinero ayuda "
    "tenemos niños papeles mi mujer marido hija hijos familia piso alquiler "
    "vivir vivo trabajar médico salud mañana día días semana año meses vez "
    "gente España aquí madre padre hermano hermana comida centro servicios "
    "sociales trabajadora social cita ayuntamiento empadronamiento padrón "
    "tarjeta sanitaria NIE pasaporte asilo protección internacional permiso "
    "residencia contrato nómina paro subsidio ingreso mínimo vital renta "
    "deuda luz agua gas factura facturas pagar pago cobrar cobro euros mil "
    "cien doscientos trescientos quinientos habitación compartida calle "
    "albergue desahucio desalojo propietario casero fianza banco cuenta "
    "colegio escuela guardería profesor beca comedor ropa zapatos pañales "
    "leche alimentos banco_de_alimentos medicación pastillas hospital "
    "urgencias enfermedad dolor diabetes embarazo embarazada bebé ansiedad "
    "depresión dormir duermo miedo tranquilo tranquila preocupado preocupada "
    "abogado abogada juicio denuncia policía violencia maltrato orden "
    "alejamiento idioma español árabe francés inglés rumano traducir "
    "intérprete curso formación estudios título homologar certificado "
    "experiencia cuidar cuidadora limpieza obra construcción campo hostelería "
    "camarero cocina repartidor transporte autobús metro tren abono bici "
    "coche carnet conducir teléfono móvil internet correo ordenador "
    "documento documentos solicitud solicitar trámite trámites oficina "
    "extranjería seguridad social cotizar cotización pensión discapacidad "
    "dependencia valoración grado minusvalía informe informes volante "
    "derivación recurso recursos plaza plazas lista espera esperar esperando "
    "llevo llevamos llegué llegamos vine vinimos salí salimos frontera barco "
    "patera avión Marruecos Senegal Colombia Venezuela Ucrania Perú Honduras "
    "Rumanía Siria Mali Guinea Argelia Madrid Barcelona Valencia Sevilla "
    "Málaga Almería Murcia Zaragoza Bilbao Granada Ceuta Melilla Canarias "
    "Lavapiés Carabanchel Vallecas Usera Tetuán barrio pueblo ciudad "
    "vecino vecina vecinos amigo amiga amigos primo prima tío tía abuela "
    "abuelo novio novia pareja separada separado divorciada divorciado viuda "
    "sola solo juntos nadie alguien todos todas otro otra otros mucho "
    "muchos poco poca poquito bastante demasiado siempre nunca antes después "
    "luego todavía aún ya_no tampoco quizás igual necesito necesitamos "
    "quiero queremos puedo podemos debo tenía tuve hice hago voy vamos fui "
    "fuimos dije dijo dicen hablar hablé llamar llamé llamaron pedir pedí "
    "pidieron dar dieron dan buscar busco buscando encontrar encontré "
    "perdí perder ganar gano cobro_poco entiendo entender sabe saben creo "
    "pienso parece gusta gustaría preocupa importa duele cansada cansado "
    "difícil fácil mejor peor grande pequeño pequeña nuevo nueva viejo "
    "primero primera segundo último última tercer cuarto rápido despacio "
    "urgente importante necesario posible imposible normal raro bien_bien "
    "regular mal fatal horrible tranquilidad esperanza futuro pasado "
    "presente problema problemas situación caso historia vida mundo país "
    "gobierno ley leyes derecho derechos juzgado expediente cita_previa "
    "huella huellas foto fotos firma firmar rellenar formulario copia "
    "original sello registro número códigos código postal dirección "
    "portal planta puerta escalera ascensor humedad frío calor calefacción "
    "ventana cama colchón nevera lavadora cocina_de_gas bombona baño ducha "
    "mañanas tardes noches lunes martes miércoles jueves viernes sábado "
    "domingo enero febrero marzo abril mayo junio julio agosto septiembre "
    "octubre noviembre diciembre hora horas minutos tiempo rato momento "
    "uno dos tres cuatro cinco seis siete ocho nueve diez once doce quince "
    "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa "
    "hambre sed comer cenar desayunar merendar cocinar comprar tienda "
    "supermercado mercado farmacia ambulatorio centro_de_salud pediatra "
    "dentista gafas vacuna vacunas análisis operación rehabilitación "
    "psicólogo psicóloga terapia grupo taller voluntario voluntaria Cruz "
    "Roja cruz roja entidad asociación ONG parroquia Cáritas comedor_social "
    "acogida acompañamiento orientación laboral currículum entrevista "
    "oferta empleo empresa jefe jefa horario turno noche sueldo salario "
    "negro contrato_temporal indefinido despido despidieron finiquito "
    "vacaciones baja alta mutua accidente herida hueso espalda rodilla "
    "cabeza corazón pulmón tos fiebre gripe covid mascarilla ";

static const char *const fillers[] = {"eh",      "bueno", "pues",  "o sea",     "vale",
                                      "mire",    "claro", "a ver", "mm",        "es que",
                                      "digamos", "sabe",  "vamos", "bueno pues"};

static const char *const questions[] = {
    "¿Tiene usted un lugar en el que vivir?",
    "¿Cuántas personas viven con usted?",
    "¿Tiene usted trabajo en este momento?",
    "¿Recibe alguna prestación o ayuda económica?",
    "¿Tiene tarjeta sanitaria?",
    "¿Está usted empadronado o empadronada?",
    "¿Tiene hijos a su cargo?",
    "¿Van los niños al colegio?",
    "¿Tiene alguna enfermedad o toma alguna medicación?",
    "¿Cuál es su situación administrativa?",
    "¿Ha solicitado protección internacional?",
    "¿Tiene deudas o facturas pendientes?",
    "¿Habla usted español o necesita intérprete?",
    "¿Ha sufrido algún tipo de violencia?",
    "¿Tiene red de apoyo, familia o amigos aquí?",
    "¿Cuánto paga de alquiler al mes?",
    "¿Tiene contrato de alquiler a su nombre?",
    "¿Qué estudios tiene?",
    "¿Tiene algún tipo de discapacidad reconocida?",
    "¿Cómo se encuentra de ánimo estos días?",
    "¿Come usted todos los días?",
    "¿Desde cuándo está en España?",
    "¿Tiene cita con la trabajadora social?",
    "¿Necesita ayuda con los papeles?",
};

static const char *const first_names[] = {
    "María",   "José",      "Ana",      "Juan",   "Carmen", "Antonio", "Lucía",   "Manuel",
    "Laura",   "Francisco", "Marta",    "David",  "Elena",  "Javier",  "Sara",    "Daniel",
    "Paula",   "Carlos",    "Cristina", "Miguel", "Fátima", "Mohamed", "Álvaro",  "Nuria",
    "Íñigo",   "Rocío",     "Yolanda",  "Ahmed",  "Ioana",  "Aminata", "Oksana",  "Yusuf",
    "Mamadou", "Valentina", "Andrés",   "Begoña", "Jesús",  "Ángela",  "Nicolás", "Zoe"};
static const char *const surnames[] = {
    "García", "Fernández", "González", "Rodríguez", "López",   "Martínez",  "Sánchez",
    "Pérez",  "Gómez",     "Martín",   "Jiménez",   "Ruiz",    "Hernández", "Díaz",
    "Moreno", "Muñoz",     "Álvarez",  "Romero",    "Alonso",  "Gutiérrez", "Navarro",
    "Torres", "Domínguez", "Vázquez",  "Ramos",     "Gil",     "Ramírez",   "Serrano",
    "Blanco", "Ibáñez",    "Diallo",   "El Amrani", "Popescu", "Kovalenko", "Traoré",
    "Peña",   "Núñez",     "Cañete",   "Ordóñez",   "Castaño"};
#define NFIRST (sizeof first_names / sizeof *first_names)
#define NSUR (sizeof surnames / sizeof *surnames)

static const char *const syll[] = {
    "ba", "be", "ca",  "co",  "da",  "de",  "fa", "ga", "la",   "le",  "li",  "lo",
    "ma", "me", "mi",  "na",  "ne",  "no",  "pa", "pe", "ra",   "re",  "ri",  "ro",
    "sa", "se", "ta",  "te",  "ti",  "to",  "va", "za", "ción", "tra", "bre", "cho",
    "ña", "ñi", "gue", "llo", "rrá", "món", "sí", "tú", "quí",  "zón", "pla", "cri"};
#define NSYLL (sizeof syll / sizeof *syll)

typedef struct vocab {
  char **words; /* rank -> word (common words, then pseudo-words) */
  size_t n;     /* size of the Zipf support */
  size_t nc;    /* common words: ranks [0, nc) */
  double *cdf;  /* cumulative probabilities, per part */
} vocab;

static void pseudo_word(uint64_t rank, char *out, size_t cap) {
  uint64_t h = rank * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  h ^= h >> 29;
  int ns = 2 + (int)(h % 3);
  size_t len = 0;
  for (int i = 0; i < ns; i++) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    const char *s = syll[(h >> 33) % NSYLL];
    size_t l = strlen(s);
    if (len + l + 1 >= cap) break;
    memcpy(out + len, s, l);
    len += l;
  }
  static const char *const tails[] = {"", "s", "r", "n", "l", "do", "da", "ndo"};
  const char *t = tails[rank % 8];
  size_t l = strlen(t);
  if (len + l + 1 < cap) {
    memcpy(out + len, t, l);
    len += l;
  }
  out[len] = 0;
}

static void zipf_cdf(double *cdf, size_t n, double s) {
  double sum = 0, acc = 0;
  for (size_t i = 0; i < n; i++)
    sum += 1.0 / pow((double)(i + 1), s);
  for (size_t i = 0; i < n; i++) {
    acc += 1.0 / pow((double)(i + 1), s) / sum;
    cdf[i] = acc;
  }
  cdf[n - 1] = 1.0;
}

/* Two Zipf parts: the common words (s = 1.0, P = 0.9: in speech the first
 * thousand words cover ~90% of tokens) and the tail of pseudo-words
 * (s = 1.05), so that new words keep appearing as the corpus grows. */
#define P_COMMON 0.9
static void vocab_build(vocab *v, size_t n) {
  size_t cap = 1024, nc = 0;
  char **common = malloc(cap * sizeof *common);
  const char *p = common_words;
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p) break;
    const char *e = strchr(p, ' ');
    if (!e) e = p + strlen(p);
    if (nc == cap) common = realloc(common, (cap *= 2) * sizeof *common);
    char *w = strndup(p, (size_t)(e - p));
    for (char *c = w; *c; c++)
      if (*c == '_') *c = ' ';
    common[nc++] = w;
    p = e;
  }
  if (n < nc + 1000) n = nc + 1000;
  v->n = n;
  v->nc = nc;
  v->words = malloc(n * sizeof *v->words);
  v->cdf = malloc(n * sizeof *v->cdf);
  for (size_t i = 0; i < n; i++) {
    if (i < nc) {
      v->words[i] = common[i];
    } else {
      char buf[64];
      pseudo_word(i, buf, sizeof buf);
      v->words[i] = strdup(buf);
    }
  }
  free(common);
  zipf_cdf(v->cdf, nc, 1.0);
  zipf_cdf(v->cdf + nc, n - nc, 1.05);
}

static size_t search_cdf(const double *cdf, size_t n, double u) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cdf[mid] < u)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static const char *zipf_word(const vocab *v) {
  if (unif() < P_COMMON) return v->words[search_cdf(v->cdf, v->nc, unif())];
  return v->words[v->nc + search_cdf(v->cdf + v->nc, v->n - v->nc, unif())];
}

/* ------------------------------------------------------------------ text */

typedef struct sbuf {
  char *s;
  size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    while (b->n + n + 1 > b->cap)
      b->cap = b->cap ? b->cap * 2 : 256;
    b->s = realloc(b->s, b->cap);
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) {
  sb_add(b, s, strlen(s));
}

/* Capitalizes the first letter of the sentence starting at offset `at`
 * (ASCII letters only; an accented first letter stays as is). */
static void capitalize(sbuf *b, size_t at) {
  if (at < b->n && b->s[at] >= 'a' && b->s[at] <= 'z') b->s[at] = (char)(b->s[at] - 32);
}

static const char *const number_words[] = {"dos",   "tres",    "cuatro",      "cinco",  "seis",
                                           "siete", "ocho",    "diez",        "quince", "veinte",
                                           "cien",  "dos mil", "trescientos", "mil"};

/* One turn of `nwords` words of spoken text. */
static void make_turn(sbuf *b, const vocab *v, int nwords, int question) {
  b->n = 0;
  if (b->s) b->s[0] = 0;
  int left = nwords;
  while (left > 0) {
    int slen = 4 + (int)below(12);
    if (slen > left) slen = left;
    if (b->n) sb_str(b, " ");
    if (question) sb_str(b, "¿");
    size_t first = b->n;
    if (!question && unif() < 0.25) {
      sb_str(b, fillers[below(sizeof fillers / sizeof *fillers)]);
      sb_str(b, ", ");
    }
    for (int i = 0; i < slen; i++) {
      if (i) sb_str(b, unif() < 0.06 ? ", " : " ");
      double r = unif();
      if (r < 0.012) {
        char num[32];
        snprintf(num, sizeof num, "%u", 1 + below(r < 0.004 ? 3000 : 40));
        sb_str(b, num);
      } else if (r < 0.02) {
        sb_str(b, number_words[below(sizeof number_words / sizeof *number_words)]);
      } else if (r < 0.026) {
        sb_str(b, first_names[below(NFIRST)]);
      } else {
        sb_str(b, zipf_word(v));
      }
    }
    capitalize(b, first);
    sb_str(b, question ? "?" : (unif() < 0.1 ? "..." : "."));
    left -= slen;
  }
}

/* ------------------------------------------------------------- COPY out */

static void put_field(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '\\':
      fputs("\\\\", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    default:
      fputc(*s, f);
    }
  }
}

static FILE *open_out(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.tsv", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "cs-bench-synth: %s: %s\n", path, strerror(errno));
    exit(1);
  }
  static char bufs[5][1 << 16];
  static int nb;
  setvbuf(f, bufs[nb++ % 5], _IOFBF, sizeof bufs[0]);
  return f;
}

/* 2020-01-01T00:00:00Z plus seconds, as an ISO timestamp in UTC. */
static void fmt_time(int64_t secs, char *out, size_t cap) {
  int64_t days = secs / 86400, rem = secs % 86400;
  /* civil_from_days (Howard Hinnant), days since 1970-01-01 */
  int64_t z = days + 18262 + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) y++;
  snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d+00", (int)y, (int)m, (int)d, (int)(rem / 3600),
           (int)(rem / 60 % 60), (int)(rem % 60));
}

static const char usage[] =
    "usage: cs-bench-synth --out DIR --conversations N [--seed S] [--id-base B] [--vocab V]\n"
    "  writes DIR/{employees,patients,conversations,segments,events}.tsv (COPY text format)\n";

int main(int argc, char **argv) {
  const char *out = NULL;
  uint64_t nconv = 0, seed = 42, base = 0, nvocab = 200000;
  for (int i = 1; i < argc; i++) {
    int has = i + 1 < argc;
    if (!strcmp(argv[i], "--out") && has)
      out = argv[++i];
    else if (!strcmp(argv[i], "--conversations") && has)
      nconv = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--seed") && has)
      seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--id-base") && has)
      base = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--vocab") && has)
      nvocab = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--help")) {
      fputs(usage, stdout);
      return 0;
    } else {
      fprintf(stderr, "cs-bench-synth: bad argument: %s\n%s", argv[i], usage);
      return 2;
    }
  }
  if (!out || !nconv) {
    fputs(usage, stderr);
    return 2;
  }
  mkdir(out, 0755);
  rng_state = seed * 0xD1B54A32D192ED03ull + 1;
  vocab v;
  vocab_build(&v, (size_t)nvocab);

  uint64_t nemp = nconv / 200 < 5 ? 5 : nconv / 200;
  uint64_t npat = (nconv + 2) / 3;
  FILE *fe = open_out(out, "employees"), *fp = open_out(out, "patients"),
       *fc = open_out(out, "conversations"), *fs = open_out(out, "segments"),
       *fv = open_out(out, "events");
  char ts[40], ts2[40];
  for (uint64_t e = 1; e <= nemp; e++) {
    fprintf(fe, "%" PRIu64 "\tEntrevistadora %" PRIu64 "\tentrevistadora%" PRIu64 "@example.org\n",
            base + e, e, base + e);
  }
  /* People: registered over 2020-2024, each with an owner. */
  uint64_t *owner = malloc((npat + 1) * sizeof *owner);
  int64_t *registered = malloc((npat + 1) * sizeof *registered);
  uint64_t *nver = calloc(npat + 1, sizeof *nver);
  for (uint64_t p = 1; p <= npat; p++) {
    owner[p] = base + 1 + below((uint32_t)nemp);
    registered[p] = (int64_t)below(5 * 365 * 86400u);
    const char *f1 = first_names[below(NFIRST)], *s1 = surnames[below(NSUR)],
               *s2 = surnames[below(NSUR)];
    char name[160];
    snprintf(name, sizeof name, "%s %s %s", f1, s1, s2);
    fmt_time(registered[p], ts, sizeof ts);
    fprintf(fp, "%" PRIu64 "\t%" PRIu64 "\t", base + p, owner[p]);
    put_field(fp, name);
    if (unif() < 0.6)
      fprintf(fp, "\tpersona%" PRIu64 "@example.org\t+34 6%08u\t%s\t%s\n", base + p,
              below(100000000), ts, ts);
    else
      fprintf(fp, "\t\\N\t\\N\t%s\t%s\n", ts, ts);
    fprintf(fv,
            "patient-%" PRIu64 "\t%" PRIu64 "\tpatient.registered\t{\"patient_id\": %" PRIu64
            ", \"owner_id\": %" PRIu64 ", \"name\": \"",
            base + p, ++nver[p], base + p, owner[p]);
    put_field(fv, name);
    fprintf(fv, "\"}\t%" PRIu64 "\t%s\n", owner[p], ts);
  }
  sbuf text = {0};
  uint64_t nseg = 0, nbytes = 0;
  for (uint64_t c = 1; c <= nconv; c++) {
    uint64_t p = 1 + (c - 1) % npat; /* every person gets ~3 conversations */
    int64_t created = registered[p] + (int64_t)below(200 * 86400u);
    int nturns = 12 + (int)below(40) + (unif() < 0.3 ? (int)below(40) : 0);
    int third = unif() < 0.2;
    const char *iname = "Entrevistadora";
    char pname[96], oname[96];
    snprintf(pname, sizeof pname, "%s", first_names[below(NFIRST)]);
    snprintf(oname, sizeof oname, "%s", unif() < 0.5 ? "Intérprete" : first_names[below(NFIRST)]);
    int64_t t = 0;
    for (int s = 0; s < nturns; s++) {
      int role; /* 0 interviewer, 1 person, 2 other */
      if (s % 2 == 0)
        role = 0;
      else
        role = third && unif() < 0.25 ? 2 : 1;
      int nw;
      if (role == 0) {
        if (unif() < 0.33) {
          text.n = 0;
          sb_str(&text, questions[below(sizeof questions / sizeof *questions)]);
          nw = 0;
          for (const char *q = text.s; *q; q++)
            nw += *q == ' ';
          nw++;
        } else {
          nw = 4 + (int)below(22);
          make_turn(&text, &v, nw, unif() < 0.6);
        }
      } else {
        double ln = exp(log(18.0) + 0.9 * normal());
        nw = (int)ln;
        if (nw < 1) nw = 1;
        if (nw > 300) nw = 300;
        make_turn(&text, &v, nw, 0);
      }
      int64_t dur = 400 * (int64_t)nw + 300;
      fprintf(fs, "%" PRIu64 "\t%d\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t", base + c, s,
              role == 0   ? iname
              : role == 1 ? pname
                          : oname,
              role == 0   ? "interviewer"
              : role == 1 ? "beneficiary"
                          : "other",
              t, t + dur);
      put_field(fs, text.s);
      fputc('\n', fs);
      nseg++;
      nbytes += text.n;
      t += dur + 300 + below(1700);
    }
    fmt_time(created, ts, sizeof ts);
    fprintf(fc,
            "%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\tEntrevista %" PRIu64
            "\tEntrevista de acogida\tes\ts3://bench/synth/%" PRIu64 ".wav\t%" PRId64
            "\ttranscribed\t%s\t%s\n",
            base + c, base + p, owner[p], c, base + c, t, ts, ts);
    fprintf(fv,
            "conversation-%" PRIu64 "\t1\tconversation.recorded\t{\"conversation_id\": %" PRIu64
            ", \"patient_id\": %" PRIu64 "}\t%" PRIu64 "\t%s\n",
            base + c, base + c, base + p, owner[p], ts);
    int ver = 1;
    double r = unif();
    if (r < 0.5) {
      fmt_time(created + 3600 + below(30 * 86400u), ts2, sizeof ts2);
      fprintf(fv,
              "conversation-%" PRIu64 "\t%d\tconversation.played\t{\"conversation_id\": %" PRIu64
              ", \"patient_id\": %" PRIu64 "}\t%" PRIu64 "\t%s\n",
              base + c, ++ver, base + c, base + p, owner[p], ts2);
    }
    if (r < 0.25) {
      fmt_time(created + 7200 + below(30 * 86400u), ts2, sizeof ts2);
      fprintf(fv,
              "conversation-%" PRIu64 "\t%d\tquestion.asked\t{\"conversation_id\": %" PRIu64
              ", \"patient_id\": %" PRIu64
              ", \"question\": \"¿Tiene vivienda?\", \"answer\": \"No consta.\"}\t%" PRIu64
              "\t%s\n",
              base + c, ++ver, base + c, base + p, owner[p], ts2);
    }
    if (r < 0.1) {
      fmt_time(created + 86400 + below(60 * 86400u), ts2, sizeof ts2);
      fprintf(fv,
              "patient-%" PRIu64 "\t%" PRIu64 "\tsheet.updated\t{\"patient_id\": %" PRIu64
              "}\t%" PRIu64 "\t%s\n",
              base + p, ++nver[p], base + p, owner[p], ts2);
    }
  }
  fclose(fe);
  fclose(fp);
  fclose(fc);
  fclose(fs);
  fclose(fv);
  printf("{\"conversations\": %" PRIu64 ", \"patients\": %" PRIu64 ", \"employees\": %" PRIu64
         ", \"segments\": %" PRIu64 ", \"text_bytes\": %" PRIu64 "}\n",
         nconv, npat, nemp, nseg, nbytes);
  free(text.s);
  return 0;
}
