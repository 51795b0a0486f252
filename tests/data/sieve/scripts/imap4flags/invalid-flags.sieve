require ["imap4flags"];
addflag "\\Recent \\Bogus good x(y \\draft";
