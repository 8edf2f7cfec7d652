-- Added to tests/http/fixture.sql for the console's browser test: a
-- conversation of employee 1's Zoe Ruiz (105) whose turns hold what CSV
-- must quote (commas, double quotes, a line break) and the word
-- "albergue" to find them.
INSERT INTO conversations (id, patient_id, owner_id, title, description, language, audio_uri,
                           duration_ms, status, created_at, updated_at) VALUES
  (1002, 105, 1, 'Entrevista "difícil", albergue', 'Albergue, comedor y papeles', 'es',
   's3://a/1002.wav', 30000, 'transcribed', '2026-11-03 09:00+00', '2026-11-03 09:20+00');

INSERT INTO segments (conversation_id, seq, speaker, role, start_ms, end_ms, text) VALUES
  (1002, 0, 'Ana', 'interviewer', 0, 6000, '¿Dónde duerme esta semana?'),
  (1002, 1, 'Zoe', 'beneficiary', 6000, 18000,
   E'En el albergue, dijo: "solo tres noches, ni una más".\nDespués, no sé.'),
  (1002, 2, 'Ana', 'interviewer', 18000, 26000, 'Pediremos otra plaza en el albergue <b>municipal</b> & el comedor.');
