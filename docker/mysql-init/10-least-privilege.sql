-- Least privilege for the app's database user. The image (MySQL's or MariaDB's) creates MYSQL_USER ("mail") with ALL
-- on MYSQL_DATABASE before it runs this file, granted on the name with its underscores escaped (`mail\_dispatch`: in
-- a grant `_` matches any character), so the REVOKE names it exactly so, or it fails (ERROR 1141) and the init stops; ALL is more than the app needs, so it is narrowed to: rows (SELECT, INSERT, UPDATE,
-- DELETE) and the DDL of the migrations the app applies at start (CREATE, ALTER, INDEX, REFERENCES, and TRIGGER
-- for the msg_event history triggers), on
-- mail_dispatch only. No DROP, no GRANT, no global privilege (FILE, PROCESS, SUPER, ...), no other database.
-- test/integration/least-privilege.int.test.ts runs the app as a user with exactly these grants.
REVOKE ALL PRIVILEGES ON `mail\_dispatch`.* FROM 'mail'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES, TRIGGER ON `mail\_dispatch`.* TO 'mail'@'%';
FLUSH PRIVILEGES;
