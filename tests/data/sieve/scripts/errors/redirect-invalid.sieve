redirect "not-an-address";
