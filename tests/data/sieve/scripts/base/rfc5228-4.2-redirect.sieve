redirect "bart@example.com";
