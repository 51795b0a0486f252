redirect "x@example.com";
redirect "x@EXAMPLE.COM";
redirect "X@example.com";
