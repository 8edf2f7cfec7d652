-- Fixture of the HTTP tests (tests/http/*.case, tests/test_http.c), loaded
-- after `convsearch-indexer install` into a fresh database. Invented people.
--
-- Employee 1 owns 101..107, employee 2 owns 201..203, employee 3 owns
-- nobody. Names exercise Spanish ordering: accents, ñ, ü, case, leading and
-- trailing spaces, numbers inside names. Expected name order of employee 1:
--   Álvaro Núñez (101), Güell Pons (107), nuria ortega (102),
--   Ñandú Pérez (106), Paciente 2 (104), Paciente 10 (103), "  Zoe Ruiz  " (105)
-- Interaction events are dated relative to now() so that the expected order
-- holds whenever the test runs. Employee 1, by interaction:
--   Ñandú (recorded 1 h ago, ~5.0) > Paciente 2 (question 5 days ago, ~2.67)
--   > Álvaro (played 2 days ago, ~1.91) > Paciente 10 (registered 40 days
--   ago, ~0.40) > the rest (0) by id: 102, 105, 107.
-- Words only employee 2 may see: "clandestino", "marta" (a name and said in
-- their interview; "martes", said to employee 1, has the same stem).
-- Names analysts never see (tests/http/23x-names-*.case): employee 2's
-- Ramón Quintero Zubiri (204) is named in full by the speaker label of his
-- conversation 4000, in its title and description, and in its turns (upper
-- case, without accents, hyphenated); employee 2 sees him as he is.

INSERT INTO employees (id, name, email) VALUES
  (1, 'Ana Martín', 'ana@example.org'),
  (2, 'Luis Pérez', 'luis@example.org'),
  (3, 'Eva Sin Gente', NULL);

INSERT INTO patients (id, owner_id, name, email, phone, created_at, updated_at) VALUES
  (101, 1, 'Álvaro Núñez', 'alvaro@example.org', '600 111 222', '2026-09-01', '2026-09-01'),
  (102, 1, 'nuria ortega', NULL, '600 333 444', '2026-09-02', '2026-09-02'),
  (103, 1, 'Paciente 10', NULL, NULL, '2026-09-03', '2026-09-03'),
  (104, 1, 'Paciente 2', NULL, NULL, '2026-09-04', '2026-09-04'),
  (105, 1, '  Zoe Ruiz  ', NULL, NULL, '2026-09-05', '2026-09-05'),
  (106, 1, 'Ñandú Pérez', NULL, NULL, '2026-09-06', '2026-09-06'),
  (107, 1, 'Güell Pons', NULL, NULL, '2026-09-07', '2026-09-07'),
  (201, 2, 'Fátima El Amrani', 'fatima@example.org', '611 555 666', '2026-09-02', '2026-09-02'),
  (202, 2, 'Óscar Güell', NULL, NULL, '2026-09-04', '2026-09-04'),
  (203, 2, 'Marta Secreta', NULL, NULL, '2026-09-05', '2026-09-05'),
  (204, 2, 'Ramón de la Quintero Zubiri', NULL, NULL, '2026-11-01', '2026-11-01');

INSERT INTO conversations (id, patient_id, owner_id, title, description, language, audio_uri,
                           duration_ms, status, created_at, updated_at) VALUES
  (1000, 101, 1, 'Primera entrevista', 'Acogida y vivienda', 'es', 's3://a/1000.wav', 60000,
   'transcribed', '2026-09-01 10:00+00', '2026-09-01 10:30+00'),
  (1001, 102, 1, 'Seguimiento', 'Empleo', 'es', 's3://a/1001.wav', 40000,
   'transcribed', '2026-10-01 09:00+00', '2026-10-01 09:20+00'),
  (2000, 201, 2, 'Primera entrevista', 'Documentación', 'es', 's3://a/2000.wav', 50000,
   'transcribed', '2026-09-15 12:00+00', '2026-09-15 12:25+00'),
  (4000, 204, 2, 'Seguimiento de Ramón', 'Ramón Quintero busca empleo de cocinero', 'es',
   's3://a/4000.wav', 30000, 'transcribed', '2026-09-05 10:00+00', '2026-09-05 10:15+00');

INSERT INTO segments (conversation_id, seq, speaker, role, start_ms, end_ms, text) VALUES
  (1000, 0, 'Ana', 'interviewer', 0, 4000, '¿Tiene usted un lugar en el que vivir?'),
  (1000, 1, 'Álvaro', 'beneficiary', 4000, 15000,
   'Nos llegó la orden de desahucio el martes y perdimos la vivienda.'),
  (1000, 2, 'Ana', 'interviewer', 15000, 20000, '¿Cuánto tiempo lleva así?'),
  (1000, 3, 'Álvaro', 'beneficiary', 20000, 30000, 'Casi un año. Mi hija tiene tres años. 😊'),
  (1000, 4, 'Ana', 'interviewer', 30000, 40000, 'Vamos a pedir una ayuda para la vivienda.'),
  (1001, 0, 'Ana', 'interviewer', 0, 5000, '¿Qué tal el trabajo nuevo?'),
  (1001, 1, 'nuria', 'beneficiary', 5000, 20000,
   'Muy bien, soy auxiliar informático en una empresa de Getafe.'),
  (1001, 2, 'Ana', 'interviewer', 20000, 25000, '¿Y el ano... perdón, el año pasado?'),
  (2000, 0, 'Luis', 'interviewer', 0, 4000, '¿Dónde vive ahora?'),
  (2000, 1, 'Fátima', 'beneficiary', 4000, 20000,
   'Vivo en un piso clandestino desde el desahucio; Marta me ayuda.'),
  (2000, 2, 'Luis', 'interviewer', 20000, 25000, '¿Tiene pasaporte?'),
  (4000, 0, 'Luis Pérez', 'interviewer', 0, 5000, 'Buenos días, Ramón. ¿Sigue de cocinero?'),
  (4000, 1, 'Ramón Quintero Zubiri', 'beneficiary', 5000, 20000,
   'Sí. Me llamo RAMON QUINTERO, cocinero en Sevilla; el señor Quintero-Zubiri me recomendó.'),
  (4000, 2, 'Luis Pérez', 'interviewer', 20000, 25000, 'Apunto: Ramón tiene pasaporte; cocinero.');

INSERT INTO events (stream, version, type, payload, actor_id, recorded_at) VALUES
  ('patient-106', 1, 'conversation.recorded', '{"patient_id": 106}', 1, now() - interval '1 hour'),
  ('patient-104', 1, 'question.asked', '{"patient_id": 104, "question": "q", "answer": "a"}', 1,
   now() - interval '5 days'),
  ('patient-101', 1, 'conversation.played', '{"patient_id": 101, "conversation_id": 1000}', 1,
   now() - interval '2 days'),
  ('patient-103', 1, 'patient.registered', '{"patient_id": 103, "owner_id": 1, "name": "x"}', 1,
   now() - interval '40 days'),
  ('patient-201', 1, 'conversation.recorded', '{"patient_id": 201, "conversation_id": 2000}', 2,
   now() - interval '1 day'),
  ('patient-101', 2, 'some.unknown.type', '{"patient_id": 101}', 1, now());

INSERT INTO relevant_points (id, text, category) VALUES
  (1, '¿Tiene usted un lugar en el que vivir?', 'vivienda'),
  (2, '¿Tiene pasaporte o algún documento de identidad?', 'documentación');
