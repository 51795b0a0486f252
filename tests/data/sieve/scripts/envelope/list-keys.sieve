require ["envelope"];
if envelope :domain :is "from" ["spam.example", "news.example"] { discard; }
