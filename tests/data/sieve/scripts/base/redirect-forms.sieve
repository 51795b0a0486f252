redirect "Bob Example <bob@Example.COM>";
redirect "bob@example.com";
redirect "\"odd local\"@example.com";
