require ["imap4flags", "variables", "fileinto"];
addflag "v" "\\Seen  foo";
addflag "v" "Foo \\seen bar";
fileinto "[${v}]";
