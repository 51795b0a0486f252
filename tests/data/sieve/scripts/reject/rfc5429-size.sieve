require ["reject"];
if size :over 100K {
    reject "Your message is too big. Put it on a web site and send me a URL.";
}
