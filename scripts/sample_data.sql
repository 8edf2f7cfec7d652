-- Sample data for the main job: two interviewers, their people, a few
-- intake interviews in spoken Spanish with turn times, the standard intake
-- questions and some interaction events. Invented people; safe to reload.
INSERT INTO employees (id, name, email) VALUES
  (1, 'Ana Martín', 'ana.martin@example.org'),
  (2, 'Luis Pérez', 'luis.perez@example.org')
ON CONFLICT (id) DO NOTHING;

INSERT INTO patients (id, owner_id, name, email, phone, created_at, updated_at) VALUES
  (101, 1, 'Álvaro Núñez', 'alvaro@example.org', '600 111 222', '2026-09-01', '2026-09-01'),
  (102, 1, 'Nuria Ortega', NULL, '600 333 444', '2026-09-03', '2026-09-03'),
  (103, 1, 'Paciente 2', NULL, NULL, '2026-09-05', '2026-09-05'),
  (104, 1, 'Paciente 10', NULL, NULL, '2026-09-06', '2026-09-06'),
  (201, 2, 'Fátima El Amrani', NULL, '611 555 666', '2026-09-02', '2026-09-02'),
  (202, 2, 'Óscar Güell', NULL, NULL, '2026-09-04', '2026-09-04')
ON CONFLICT (id) DO NOTHING;

INSERT INTO conversations (id, patient_id, owner_id, title, description, language, audio_uri,
                           duration_ms, status, created_at, updated_at) VALUES
  (1, 101, 1, 'Primera entrevista', 'Acogida inicial y situación de vivienda', 'es', 's3://audio/1.wav', 95000, 'transcribed', '2026-09-01 10:00+00', '2026-09-01 10:30+00'),
  (2, 102, 1, 'Entrevista de seguimiento', 'Empleo y salud', 'es', 's3://audio/2.wav', 80000, 'transcribed', '2026-09-10 09:00+00', '2026-09-10 09:20+00'),
  (3, 201, 2, 'Primera entrevista', 'Situación familiar y documentación', 'es', 's3://audio/3.wav', 70000, 'transcribed', '2026-09-02 12:00+00', '2026-09-02 12:25+00'),
  (4, 202, 2, 'Entrevista de acogida', 'Vivienda y alimentación', 'es', 's3://audio/4.wav', 60000, 'transcribed', '2026-09-12 16:00+00', '2026-09-12 16:15+00')
ON CONFLICT (id) DO NOTHING;

INSERT INTO segments (conversation_id, seq, speaker, role, start_ms, end_ms, text) VALUES
  (1, 0, 'Ana', 'interviewer', 0, 4000, 'Buenos días, Álvaro. ¿Cómo se encuentra hoy?'),
  (1, 1, 'Álvaro', 'beneficiary', 4000, 9000, 'Bien, eh... un poco cansado, la verdad.'),
  (1, 2, 'Ana', 'interviewer', 9000, 13000, '¿Tiene usted un lugar en el que vivir?'),
  (1, 3, 'Álvaro', 'beneficiary', 13000, 30000, 'Ahora mismo vivo en casa de mi hermana, en Vallecas. Nos desahuciaron del piso de alquiler en marzo porque no podíamos pagar los 800 euros.'),
  (1, 4, 'Ana', 'interviewer', 30000, 34000, '¿Cuántas personas viven con usted?'),
  (1, 5, 'Álvaro', 'beneficiary', 34000, 45000, 'Somos cinco: mi hermana, sus dos hijos, mi hija y yo. Dormimos en el salón.'),
  (1, 6, 'Ana', 'interviewer', 45000, 50000, '¿Tiene algún ingreso ahora mismo?'),
  (1, 7, 'Álvaro', 'beneficiary', 50000, 70000, 'Trabajo a veces en la construcción, sin contrato. Unos doscientos euros a la semana cuando hay trabajo.'),
  (1, 8, 'Ana', 'interviewer', 70000, 76000, 'Vamos a tramitar la ayuda de emergencia para la vivienda.'),
  (1, 9, 'Álvaro', 'beneficiary', 76000, 95000, 'Muchas gracias, de verdad. Lo que más me preocupa es mi hija, que tiene asma.'),
  (2, 0, 'Ana', 'interviewer', 0, 5000, 'Nuria, ¿qué tal le fue en la entrevista de trabajo?'),
  (2, 1, 'Nuria', 'beneficiary', 5000, 20000, 'Muy bien, me han cogido de auxiliar de informática en una empresa de Getafe. Empiezo el lunes.'),
  (2, 2, 'Ana', 'interviewer', 20000, 26000, '¡Qué buena noticia! ¿Y la salud? ¿Sigue con el tratamiento?'),
  (2, 3, 'Nuria', 'beneficiary', 26000, 45000, 'Sí, el médico del centro de salud me cambió la medicación para la diabetes y estoy mejor.'),
  (2, 4, 'Ana', 'interviewer', 45000, 50000, '¿Necesita ayuda con el transporte hasta el trabajo?'),
  (2, 5, 'Nuria', 'beneficiary', 50000, 80000, 'El abono de transporte me vendría bien el primer mes, hasta que cobre la primera nómina.'),
  (3, 0, 'Luis', 'interviewer', 0, 4000, 'Hola, Fátima. ¿Dónde vive ahora?'),
  (3, 1, 'Fátima', 'beneficiary', 4000, 20000, 'Vivo en un albergue de la Cruz Roja con mis dos hijos desde hace tres semanas.'),
  (3, 2, 'Luis', 'interviewer', 20000, 25000, '¿Tiene pasaporte o algún documento de identidad?'),
  (3, 3, 'Fátima', 'beneficiary', 25000, 45000, 'Tengo el pasaporte marroquí, pero me falta el empadronamiento para pedir la tarjeta sanitaria.'),
  (3, 4, 'Luis', 'interviewer', 45000, 50000, '¿Sus hijos van al colegio?'),
  (3, 5, 'Fátima', 'beneficiary', 50000, 70000, 'El mayor sí, el pequeño tiene dos años y está conmigo todo el día. 😊'),
  (4, 0, 'Luis', 'interviewer', 0, 5000, 'Óscar, ¿tiene usted un lugar en el que vivir?'),
  (4, 1, 'Óscar', 'beneficiary', 5000, 20000, 'No, duermo en la calle desde hace un año, cerca de la estación.'),
  (4, 2, 'Luis', 'interviewer', 20000, 25000, '¿Come todos los días?'),
  (4, 3, 'Óscar', 'beneficiary', 25000, 60000, 'Voy al comedor social de la parroquia. Lo peor es el frío por la noche, en invierno.')
ON CONFLICT (conversation_id, seq) DO NOTHING;

INSERT INTO relevant_points (id, text, category) VALUES
  (1, '¿Tiene usted un lugar en el que vivir?', 'vivienda'),
  (2, '¿Tiene algún ingreso económico?', 'empleo'),
  (3, '¿Tiene acceso a atención sanitaria?', 'salud'),
  (4, '¿Tiene documentación en regla?', 'documentación')
ON CONFLICT (id) DO NOTHING;

INSERT INTO events (stream, version, type, payload, actor_id, recorded_at) VALUES
  ('patient-101', 1, 'patient.registered', '{"patient_id": 101, "owner_id": 1, "name": "Álvaro Núñez"}', 1, '2026-09-01 09:55+00'),
  ('patient-101', 2, 'conversation.recorded', '{"conversation_id": 1, "patient_id": 101}', 1, '2026-09-01 10:30+00'),
  ('patient-101', 3, 'question.asked', '{"conversation_id": 1, "patient_id": 101, "question": "¿Dónde vive?", "answer": "En casa de su hermana"}', 1, '2026-09-20 11:00+00'),
  ('patient-102', 1, 'patient.registered', '{"patient_id": 102, "owner_id": 1, "name": "Nuria Ortega"}', 1, '2026-09-03 08:00+00'),
  ('patient-102', 2, 'conversation.recorded', '{"conversation_id": 2, "patient_id": 102}', 1, '2026-09-10 09:20+00'),
  ('patient-201', 1, 'patient.registered', '{"patient_id": 201, "owner_id": 2, "name": "Fátima El Amrani"}', 2, '2026-09-02 11:50+00'),
  ('patient-201', 2, 'conversation.recorded', '{"conversation_id": 3, "patient_id": 201}', 2, '2026-09-02 12:25+00'),
  ('patient-202', 1, 'patient.registered', '{"patient_id": 202, "owner_id": 2, "name": "Óscar Güell"}', 2, '2026-09-04 15:00+00'),
  ('patient-202', 2, 'conversation.recorded', '{"conversation_id": 4, "patient_id": 202}', 2, '2026-09-12 16:15+00')
ON CONFLICT (stream, version) DO NOTHING;
