stop;
redirect "never@example.com";
