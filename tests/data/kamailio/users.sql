-- Subscribers of the end-to-end test registrar (plain-text passwords; auth_db calculate_ha1=yes).
-- 2000/1234 is the weak account svcrack is meant to find; 1001 is the legitimate phone.
INSERT INTO subscriber(username,domain,password) VALUES
 ('1001','198.18.0.1','Zr7#pQ2v!xL9mK4w'),
 ('1002','198.18.0.1','Vt8@nB3kLq6#yH1s'),
 ('2000','198.18.0.1','1234');
