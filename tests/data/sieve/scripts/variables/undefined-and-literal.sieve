require ["variables", "fileinto"];
fileinto "[${undefined}][${a-b}][${}][$${x}][${ x}]";
