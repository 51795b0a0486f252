redirect "copy@example.com";
keep;
